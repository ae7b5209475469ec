"""Metadata, full text and a first-page preview from documents, one module per format.

Everything here reads untrusted uploads. Extracted text is cut to `Limits.max_text_chars`,
and readers stop once they have that much; ZIP-based office files are read within
`Limits.max_unzipped_bytes` (`package`). A broken or hostile file raises ProcessingError; a
valid file we merely cannot read inside (a PDF or Office file locked with a password) is not
a failure: it comes back with `encrypted: True` and no text.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

from files.processing.documents import mail, odf, ole, ooxml, pdf, signature, text
from files.processing.documents.common import DocumentResult, TextSink
from files.processing.errors import ProcessingError
from files.processing.limits import Limits

__all__ = ["DocumentResult", "extract_document"]

Extractor = Callable[[Path, TextSink, Limits], DocumentResult]


def _not_empty(extract: Extractor) -> Extractor:
    """`extract`, for formats where an empty file is not a document at all (unlike empty text)."""

    @functools.wraps(extract)
    def checked(path: Path, sink: TextSink, limits: Limits) -> DocumentResult:
        if path.stat().st_size == 0:
            raise ProcessingError("empty_file", "The file is empty (0 bytes), so there is no document to read.")
        return extract(path, sink, limits)

    return checked


_by_signature = functools.partial(signature.extract, declared_office=False)
_office = functools.partial(signature.extract, declared_office=True)

# Content type (lower case, no parameters) → its reader.
EXTRACTORS: dict[str, Extractor] = {
    **{content_type: functools.partial(text.extract, label=label) for content_type, label in text.FORMATS.items()},
    **dict.fromkeys(mail.CONTENT_TYPES, _not_empty(mail.extract)),
    **dict.fromkeys(pdf.CONTENT_TYPES, _not_empty(pdf.extract)),
    **dict.fromkeys(ooxml.CONTENT_TYPES | odf.CONTENT_TYPES | ole.CONTENT_TYPES, _not_empty(_office)),
    **dict.fromkeys(signature.GENERIC_TYPES, _not_empty(_by_signature)),
}


def extract_document(path: str | os.PathLike[str], content_type: str, limits: Limits) -> DocumentResult:
    """Read a document's metadata, text (bounded) and, for a PDF, a first-page preview."""
    mime = content_type.split(";", 1)[0].strip().lower()
    extract = EXTRACTORS.get(mime)
    if extract is None:
        raise ProcessingError("unsupported_document", f"Documents of type {mime or 'unknown'} are not supported.")
    return extract(Path(path), TextSink(limits.max_text_chars), limits)
