"""PDF: metadata, text page by page, and the first page rendered as a preview (PDFium)."""

from __future__ import annotations

import os
import re
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from files.processing.documents.common import DocumentResult, TextSink, set_text_fields
from files.processing.errors import ProcessingError
from files.processing.limits import Limits

if TYPE_CHECKING:
    from PIL import Image

CONTENT_TYPES = frozenset({"application/pdf"})

# PDFium is not thread-safe: a worker that runs tasks in threads must never enter it twice at once.
PDFIUM_LOCK = threading.Lock()
_PREVIEW_LONG_SIDE = 1600
# A page with fewer letters than this in its text layer (a page number, a scanner's stamp) is
# taken for a scan: OCR reads it.
TEXT_LAYER_MIN_CHARS = 32
_PDFIUM_REASONS = {
    pdfium_c.FPDF_ERR_FILE: "the file could not be read",
    pdfium_c.FPDF_ERR_FORMAT: "its structure is damaged or it is not a PDF",
}


def extract(path: Path, sink: TextSink, limits: Limits) -> DocumentResult:
    with PDFIUM_LOCK:
        pdf = _open(path)
        if pdf is None:
            # A PDF that needs a password to open is a valid file the user chose to store, so it
            # is not marked failed. Without the password even its page count and Info strings are
            # encrypted, so all we can honestly report is that it is locked.
            metadata = {"format": "PDF", "encrypted": True, "password_required": True}
            return DocumentResult(metadata=metadata, text="", preview=None)

        with pdf:
            metadata = _pdf_metadata(pdf)
            pdf.init_forms()  # so filled-in form fields show in the preview, as in a viewer
            preview, pages_read, textless = None, 0, []
            for index in range(len(pdf)):
                if index > 0 and sink.full:
                    break
                try:
                    page = pdf[index]
                except pdfium.PdfiumError:
                    continue  # one broken page should not cost the rest of the text
                pages_read += 1
                try:
                    if index == 0:
                        preview = _pdf_preview(page)
                    text = _pdf_page_text(page)
                    sink.add(text + "\n\n")
                    if sum(not char.isspace() for char in text) < TEXT_LAYER_MIN_CHARS:
                        textless.append(index)
                finally:
                    page.close()
    if not pages_read:
        raise ProcessingError("corrupt_document", "The PDF could not be parsed: none of its pages can be read.")
    return DocumentResult(metadata=metadata, text=sink.text(), preview=preview, textless_pages=textless)


def _open(path: Path) -> pdfium.PdfDocument | None:
    """The document, or None when it needs a password; ProcessingError when it is unreadable.

    PDFium keeps one error code per process and sets it only when a load fails, so it is read
    only then: a document that loads but has no page would otherwise be reported with the
    code of whatever failed last in this worker (pypdfium2 reads it in that case too).
    """
    document = pdfium_c.FPDF_LoadDocument(os.fsencode(path) + b"\x00", None)
    if not document:
        code = pdfium_c.FPDF_GetLastError()
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            return None
        reason = _PDFIUM_REASONS.get(code, "PDFium could not open it")
        raise ProcessingError("corrupt_document", f"The PDF could not be parsed: {reason}.")
    if pdfium_c.FPDF_GetPageCount(document) < 1:
        pdfium_c.FPDF_CloseDocument(document)
        raise ProcessingError("corrupt_document", "The PDF could not be parsed: it has no readable page.")
    return pdfium.PdfDocument(document)


def _pdf_metadata(pdf: pdfium.PdfDocument) -> dict[str, object]:
    info = {}
    for key in ("Title", "Author", "Subject", "CreationDate"):
        try:
            info[key] = pdf.get_metadata_value(key)
        except UnicodeDecodeError:
            continue  # pypdfium2 decodes strictly; a damaged Info string is just unknown
    metadata: dict[str, object] = {
        "format": "PDF",
        "page_count": len(pdf),
        # -1 means no security handler; PDFs encrypted with an empty user password open without asking.
        "encrypted": pdfium_c.FPDF_GetSecurityHandlerRevision(pdf) != -1,
    }
    set_text_fields(metadata, title=info.get("Title"), author=info.get("Author"), subject=info.get("Subject"))
    if created := _pdf_date(info.get("CreationDate", "")):
        metadata["created"] = created
    if attachments := pdf.count_attachments():
        metadata["attachment_count"] = attachments
    return metadata


def _pdf_preview(page: pdfium.PdfPage) -> Image.Image | None:
    width, height = page.get_size()
    if width <= 0 or height <= 0:
        return None
    try:
        bitmap = page.render(scale=_PREVIEW_LONG_SIDE / max(width, height), may_draw_forms=True)
    except pdfium.PdfiumError:
        return None
    # convert() copies: the PIL image from to_pil() shares memory with the PDFium bitmap.
    return bitmap.to_pil().convert("RGB")


def _pdf_page_text(page: pdfium.PdfPage) -> str:
    try:
        textpage = page.get_textpage()
    except pdfium.PdfiumError:
        return ""
    try:
        return textpage.get_text_bounded()
    finally:
        textpage.close()


_PDF_DATE = re.compile(
    r"(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?", re.IGNORECASE
)


def _pdf_date(value: str) -> str | None:
    """ISO 8601 for a PDF date (`D:YYYYMMDDHHmmSS+HH'mm'`, every part after the year optional)."""
    match = _PDF_DATE.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zulu, sign, tz_hours, tz_minutes = match.groups()
    try:
        tzinfo = None
        if zulu:
            tzinfo = UTC
        elif sign:
            offset = timedelta(hours=int(tz_hours), minutes=int(tz_minutes or 0))
            tzinfo = timezone(-offset if sign == "-" else offset)  # ValueError past 24 hours
        parsed = datetime(
            int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0), tzinfo=tzinfo
        )
    except ValueError:
        return None
    return parsed.isoformat()
