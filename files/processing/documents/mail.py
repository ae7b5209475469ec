"""E-mail (message/rfc822): subject, sender, date and the body, as text even when it is HTML."""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

from files.processing.documents.common import DocumentResult, TextSink, set_text_fields
from files.processing.limits import Limits

CONTENT_TYPES = frozenset({"message/rfc822"})

# Malformed headers raise while being parsed, which policy.default does lazily on access.
_HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError)


def extract(path: Path, sink: TextSink, limits: Limits) -> DocumentResult:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    metadata: dict[str, object] = {"format": "EML"}
    set_text_fields(metadata, title=_header(message, "subject"), author=_header(message, "from"))
    try:
        sent = getattr(message["date"], "datetime", None)
    except _HEADER_ERRORS:
        sent = None
    if isinstance(sent, datetime):
        metadata["created"] = sent.isoformat()
    sink.add(_email_body(message))
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _header(message: EmailMessage, name: str) -> str | None:
    try:
        value = message[name]
    except _HEADER_ERRORS:
        return None
    return str(value) if value is not None else None


def _email_body(message: EmailMessage) -> str:
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except _HEADER_ERRORS:
        return ""
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (*_HEADER_ERRORS, UnicodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    return _html_text(content) if part.get_content_subtype() == "html" else content


class _HTMLText(HTMLParser):
    """The visible text of an HTML body, with a line break wherever a block ends."""

    _BLOCKS = frozenset({"p", "br", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "blockquote"})
    _HIDDEN = frozenset({"script", "style", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _HTMLText()
    parser.feed(html)
    parser.close()
    return re.sub(r"[ \t]+", " ", "".join(parser.parts))
