"""Cleaning of user-given names and tags."""

from __future__ import annotations

import os
import unicodedata

from mediaportal.exceptions import ValidationFailed

MAX_NAME_LENGTH = 255
MAX_TAGS = 50
MAX_TAG_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 10_000
MAX_COMMENT_LENGTH = 500
# Unicode categories that print as nothing or as something else: control, format (bidi,
# zero-width), surrogate, private use, unassigned.
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def _printable(text: str) -> str:
    """`text` without control, format, surrogate, private or unassigned characters."""
    return "".join(ch for ch in text if unicodedata.category(ch) not in UNPRINTABLE)


def clean_name(raw: str, *, kind: str = "file") -> str:
    """The name as the user gave it, minus path parts, control and bidi characters.

    Format characters (category Cf) include the bidi overrides that make `evil\u202egpj.exe`
    display as `evilexe.jpg`, and zero-width characters that make look-alike names.
    """
    name = (raw or "").replace("\\", "/").split("/")[-1]
    name = _printable(name)
    name = unicodedata.normalize("NFC", name).strip().rstrip(". ")
    if name in {"", ".", ".."}:
        if kind == "folder":
            raise ValidationFailed("A folder needs a name.", code="invalid_name")
        name = "untitled"
    if len(name) > MAX_NAME_LENGTH:
        stem, ext = os.path.splitext(name)
        ext = ext if len(ext) <= 16 else ""
        name = stem[: MAX_NAME_LENGTH - len(ext)].rstrip() + ext
    return name


def numbered_name(name: str, n: int, *, kind: str = "file") -> str:
    """`report.pdf` → `report (n).pdf`; folders keep their whole name as the stem."""
    stem, ext = (name, "") if kind == "folder" else os.path.splitext(name)
    suffix = f" ({n})"
    return stem[: MAX_NAME_LENGTH - len(ext) - len(suffix)] + suffix + ext


def clean_tags(raw) -> list[str]:
    """Trimmed, lower-case, unique tags in the order given; a list or a comma-separated string.
    Characters that print as nothing (NUL, escapes, bidi overrides) are dropped."""
    if raw is None:
        return []
    items = raw.split(",") if isinstance(raw, str) else [str(item) for item in raw]
    tags: list[str] = []
    for item in items:
        for part in item.split(",") if "," in item else [item]:
            # Like names, without control and format characters (PostgreSQL cannot store NUL).
            tag = " ".join(word for word in (_printable(w) for w in part.lower().split()) if word)
            if not tag or tag in tags:
                continue
            if len(tag) > MAX_TAG_LENGTH:
                raise ValidationFailed(f"Tags are at most {MAX_TAG_LENGTH} characters.", code="invalid_tags")
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        raise ValidationFailed(f"A file has at most {MAX_TAGS} tags.", code="invalid_tags")
    return tags


def checked_text(raw: str, *, field: str, max_length: int) -> str:
    """A description or comment as given, refused when too long or holding NUL (PostgreSQL
    cannot store it): the upload forms reach the services without a serializer's checks."""
    if "\x00" in raw:
        raise ValidationFailed(f"{field} may not contain NUL characters.", code="null_characters_not_allowed")
    if len(raw) > max_length:
        raise ValidationFailed(f"{field} is at most {max_length} characters.", code="invalid")
    return raw
