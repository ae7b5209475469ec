"""What every document reader shares: the result, the bounded text sink, cleaned metadata."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class DocumentResult:
    # Keys only when known: page_count, title, author, subject, created (ISO 8601), encrypted,
    # password_required, format, charset, sheets, has_macros, attachment_count.
    metadata: dict[str, object]
    text: str
    preview: Image.Image | None = None
    # Pages (from 0) read that carry no text layer worth the name: OCR reads them (PDF only).
    textless_pages: list[int] = field(default_factory=list)


# NUL cannot be stored in PostgreSQL text, lone surrogates cannot be encoded, and the other control
# characters are layout debris from PDF and Word that only hurts search.
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_METADATA_MAX_CHARS = 1000


class TextSink:
    """Collects extracted text up to `limit` characters, so readers can stop early on huge documents."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self._parts: list[str] = []
        self._size = 0

    @property
    def full(self) -> bool:
        return self._size >= self.limit

    def add(self, piece: str) -> None:
        if self.full or not piece:
            return
        piece = CONTROL_CHARS.sub("", piece.replace("\r\n", "\n").replace("\r", "\n"))
        self._parts.append(piece)
        self._size += len(piece)

    def text(self) -> str:
        text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", "".join(self._parts)).strip()
        return text[: self.limit]


def clean(value: object) -> str | None:
    """A metadata string without control characters or padding, or None when nothing is left."""
    if not isinstance(value, str):
        return None
    # A hostile file can put megabytes into a title; metadata lands in a JSON column and in the UI.
    value = CONTROL_CHARS.sub("", value).strip()[:_METADATA_MAX_CHARS]
    return value or None


def set_text_fields(metadata: dict[str, object], **values: object) -> None:
    for key, value in values.items():
        if cleaned := clean(value):
            metadata[key] = cleaned


def iso_datetime(value: str | None) -> str | None:
    """ISO 8601 for a W3CDTF timestamp as Office and OpenDocument write it, or None if it does not parse."""
    if not value:
        return None
    # OpenDocument writes nanoseconds; fromisoformat takes at most microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


def small_int(text: str | None) -> int | None:
    # int() refuses more than 4300 digits and accepts non-ASCII digits; attribute values are untrusted.
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None
