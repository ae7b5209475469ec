"""OCR's share of processing, on one core (run by bench/processing.py, section `processing-ocr`).

- a 12 MP photo without text (the processing benchmark's photo): the whole processing
  (`process_image`, labels, OCR) and OCR's part, which is one detection on the 800 px preview
  scaled to 640 px, recognition skipped;
- the same photo with a printed notice pasted in (eight lines, about 100 px high): OCR's
  part, now detection at 2000 px, direction and recognition;
- an image-only PDF of three A4 pages of 34 lines of 11 pt text each (rendered at 150 DPI,
  the resolution the pipeline reads scans at): OCR's time per page, rendering included.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from files.processing import labels, ocr
from files.processing.images import process_image
from files.processing.limits import Limits

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
NOTICE = [
    "NOTICE TO ALL VISITORS",
    "The north gate closes at 18:30 every day.",
    "Deliveries use the Quayside entrance, dock 4.",
    "Parking permits are checked after 09:00.",
    "Lost property: ask at the reception desk.",
    "Emergency exits must stay clear at all times.",
    "Smoking is allowed only in marked areas.",
    "Thank you for your cooperation.",
]
WORDS = (
    "the archive holds invoices receipts contracts and letters from suppliers customers and "
    "auditors scanned at the front desk every morning before they are filed by date and number"
).split()
TARGET_12MP_MS = 400.0


@dataclass
class OcrFigures:
    photo_total_ms: float
    photo_ocr_ms: float
    photo_skipped: bool
    text_photo_ocr_ms: float
    text_photo_chars: int
    page_ms: float
    page_chars: int


def _median(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def with_notice(path: Path, target: Path) -> None:
    """The photo with a white notice of NOTICE's lines pasted on it."""
    font = ImageFont.truetype(FONT, 90)
    with Image.open(path) as photo:
        picture = photo.convert("RGB")
    draw = ImageDraw.Draw(picture)
    draw.rectangle((300, 300, 2700, 300 + 130 * len(NOTICE) + 100), fill="white")
    for index, line in enumerate(NOTICE):
        draw.text((360, 350 + index * 130), line, fill=(25, 25, 25), font=font)
    picture.save(target, "JPEG", quality=90)


def scanned_pdf(target: Path, pages: int = 3) -> None:
    """An image-only PDF: A4 at 150 DPI, 34 lines of 11 pt DejaVu Sans a page."""
    font = ImageFont.truetype(FONT, 23)  # 11 pt at 150 DPI
    rendered = []
    for page in range(pages):
        picture = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(picture)
        for line in range(34):
            words = [WORDS[(page * 34 + line * 7 + n) % len(WORDS)] for n in range(11)]
            draw.text((120, 130 + line * 44), " ".join(words), fill=20, font=font)
        rendered.append(picture)
    rendered[0].save(target, "PDF", resolution=150, save_all=True, append_images=rendered[1:])


def _photo(path: Path, limits: Limits) -> tuple[float, float, ocr.OcrResult]:
    started = time.perf_counter()
    result = process_image(str(path), original_size=path.stat().st_size, limits=limits)
    labels.image_labels(result.preview, limits)
    before_ocr = time.perf_counter()
    read = ocr.ocr_picture(result.large, gate=result.preview, limits=limits)
    done = time.perf_counter()
    return done - started, done - before_ocr, read


def measure_ocr(photo: Path, workdir: Path, limits: Limits, rounds: int) -> OcrFigures:
    ocr.warm_up(limits)
    notice, pdf = workdir / "notice.jpg", workdir / "scan.pdf"
    with_notice(photo, notice)
    scanned_pdf(pdf)
    totals, ocr_parts, text_parts, page_parts = [], [], [], []
    read = text_read = page_read = None
    for round_no in range(rounds + 1):
        total, part, read = _photo(photo, limits)
        _total, text_part, text_read = _photo(notice, limits)
        started = time.perf_counter()
        page_read = ocr.ocr_pdf_pages(pdf, pages=[0, 1, 2], limits=limits)
        page_part = (time.perf_counter() - started) / 3
        if round_no:
            totals.append(total)
            ocr_parts.append(part)
            text_parts.append(text_part)
            page_parts.append(page_part)
    return OcrFigures(
        photo_total_ms=_median(totals),
        photo_ocr_ms=_median(ocr_parts),
        photo_skipped=read.recognition_skipped,
        text_photo_ocr_ms=_median(text_parts),
        text_photo_chars=len(text_read.text),
        page_ms=_median(page_parts),
        page_chars=len(page_read.text) // 3,
    )


def ocr_table(figures: OcrFigures, rounds: int, cpu: int) -> str:
    met = "met" if figures.photo_total_ms <= TARGET_12MP_MS and figures.photo_skipped else "not met"
    return "\n".join(
        [
            "## Processing: OCR's added time",
            "",
            "`bench/processing.py` (`bench/processing_ocr.py`), after the image pipeline's figures:",
            "OCR (`files/processing/ocr.py`, " + ocr.ENGINE + ") on one core "
            f"(CPU {cpu}, onnxruntime one thread), medians of {rounds} rounds after one warm-up.",
            "A picture gets one detection on its 800 px preview scaled to "
            f"{ocr.GATE_SIDE} px; only when that finds text is it read, at the large rendition's size (≤ 1600 px).",
            "PDF pages without a text layer are rendered at " + f"{ocr.PDF_DPI} DPI and read.",
            "",
            "| input | OCR's added time (ms) | characters read |",
            "|---|---|---|",
            f"| 12 MP photo without text (recognition skipped: {figures.photo_skipped}) "
            f"| {figures.photo_ocr_ms:.0f} | 0 |",
            f"| 12 MP photo with a printed notice (8 lines) | {figures.text_photo_ocr_ms:.0f} "
            f"| {figures.text_photo_chars} |",
            f"| scanned A4 page, 34 lines of 11 pt (image-only PDF, per page) | {figures.page_ms:.0f} "
            f"| {figures.page_chars} |",
            "",
            f"12 MP photo without text, all processing (renditions, labels, OCR): "
            f"**{figures.photo_total_ms:.0f} ms** (target < {TARGET_12MP_MS:.0f} ms with recognition "
            f"skipped: {met}).",
        ]
    )
