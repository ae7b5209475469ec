"""A searchable copy of a scanned PDF: each page OCR read gets its text as an invisible layer.

The text is drawn in text render mode 3 (neither filled nor stroked) in Helvetica, one of the
PDF's standard fonts, so nothing is embedded: each line is placed on its box and stretched
(Tz) to the box's width, which is what a viewer's selection and search go by. Helvetica's
WinAnsi encoding covers Latin-1 and a few more; other characters become "?" in the layer
(the stored OCR text keeps them).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from files.processing.ocr import OcrPage

log = logging.getLogger(__name__)

FONT = "/FOcr"
# Helvetica's average advance is about half its size; Tz corrects each line to its box.
AVERAGE_ADVANCE = 0.5


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _layer(page: OcrPage, width: float, height: float) -> bytes:
    """The content stream drawing the page's lines invisibly, in PDF points."""
    out = [b"BT 3 Tr"]
    for line in page.lines:
        xs, ys = [x for x, _y in line["box"]], [y for _x, y in line["box"]]
        left, top, right, bottom = min(xs) * width, min(ys) * height, max(xs) * width, max(ys) * height
        size = max((bottom - top) * 0.8, 1.0)
        natural = AVERAGE_ADVANCE * size * max(len(line["text"]), 1)
        stretch = max(1.0, min(1000.0, 100 * (right - left) / natural))
        baseline = height - bottom + (bottom - top) * 0.2
        out.append(
            f"{FONT} {size:.2f} Tf {stretch:.1f} Tz 1 0 0 1 {left:.2f} {baseline:.2f} Tm ".encode()
            + _pdf_string(line["text"])
            + b" Tj"
        )
    out.append(b"ET")
    return b"\n".join(out)


def searchable_pdf(path: str | Path, pages: Sequence[OcrPage]) -> bytes | None:
    """The PDF at `path` with the text of `pages` (numbered from 1) laid over them; None when
    pypdf cannot rewrite it (damaged in a way PDFium forgave, or encrypted)."""
    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            return None
        writer = PdfWriter(clone_from=reader)
        for page in pages:
            if not page.lines or not 1 <= page.number <= len(writer.pages):
                continue
            target = writer.pages[page.number - 1]
            # The page as shown: rotated pages are rare in scans and are left without a layer.
            if target.get("/Rotate", 0) % 360:
                continue
            box = target.cropbox
            width, height = float(box.width), float(box.height)
            overlay = PageObject.create_blank_page(width=width, height=height)
            stream = DecodedStreamObject()
            stream.set_data(_layer(page, width, height))
            overlay[NameObject("/Contents")] = writer._add_object(stream)
            font = DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Font"),
                    NameObject("/Subtype"): NameObject("/Type1"),
                    NameObject("/BaseFont"): NameObject("/Helvetica"),
                    NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
                }
            )
            overlay[NameObject("/Resources")] = DictionaryObject(
                {NameObject("/Font"): DictionaryObject({NameObject(FONT): font})}
            )
            target.merge_translated_page(overlay, float(box.left), float(box.bottom))
        out = io.BytesIO()
        writer.write(out)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        log.info("no searchable PDF: %r", exc)
        return None
    return out.getvalue()
