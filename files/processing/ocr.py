"""Text recognition (OCR) in pictures and in PDF pages that have no text layer.

RapidOCR 3.10 on onnxruntime, with the PP-OCRv6 small detection and recognition models and
the text-direction classifier that ship inside its wheel (loaded by path, so nothing is ever
downloaded). The one recognition model reads Chinese, Japanese and the Latin-script
languages; it is the only one the wheel carries, so there is no language to choose.

Detection comes first, and on a small copy of a picture: a photo without text costs one
detection at GATE_SIDE px and nothing more. Only where it finds text is the picture read at
full size. Everything is bounded by `Limits.ocr_*`: pages per file, seconds per file, pixels
per rendered page.

A line is `{"text", "confidence", "box", "words"}`: `box` is its four corners and each word's
box is `[left, top, right, bottom]`, all as fractions (0..1) of the page's width and height,
so an overlay scales them to whatever size the page is shown at.
"""

from __future__ import annotations

import importlib.metadata
import io
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import rapidocr
from PIL import Image

from files.processing.documents.pdf import PDFIUM_LOCK
from files.processing.errors import OcrUnavailable
from files.processing.limits import Limits

log = logging.getLogger(__name__)

# Long side of the copy the first detection looks at. Text too small to show at this size is
# too small to matter in a photo; a scan's lines still show as text at it.
GATE_SIDE = 640
# Long side a picture or page is read at: the detector's cost grows with the pixels.
READ_SIDE = 2000
# PDF pages are rendered at this resolution (capped by Limits.ocr_max_page_pixels).
PDF_DPI = 150
# Lines the recogniser is less sure of than this are noise (texture read as letters).
MIN_CONFIDENCE = 0.5
ROUND = 4

_engine = None
_engine_lock = threading.Lock()
_load_failure: tuple[float, str] | None = None


ENGINE = "rapidocr " + importlib.metadata.version("rapidocr") + " PP-OCRv6 small"


@dataclass
class OcrPage:
    number: int  # from 1
    width: int  # of the picture read, in pixels
    height: int
    lines: list[dict] = field(default_factory=list)
    # False when the first detection found no text and the recogniser never ran.
    recognised: bool = True

    @property
    def text(self) -> str:
        return "\n".join(line["text"] for line in self.lines)

    @property
    def confidence(self) -> float | None:
        """The lines' confidence, weighted by their length; None without lines."""
        chars = sum(len(line["text"]) for line in self.lines)
        if not chars:
            return None
        return round(sum(line["confidence"] * len(line["text"]) for line in self.lines) / chars, ROUND)


@dataclass
class OcrResult:
    pages: list[OcrPage] = field(default_factory=list)
    engine: str = ""
    ms: float = 0.0
    # Why reading stopped before the last page: "page_limit" or "time_limit"; None if it did not.
    stopped: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages if page.lines)

    @property
    def recognition_skipped(self) -> bool:
        return bool(self.pages) and not any(page.recognised for page in self.pages)

    def summary(self) -> dict:
        """What the file's metadata keeps: counts, not the text."""
        read = [page for page in self.pages if page.lines]
        chars = sum(len(line["text"]) for page in read for line in page.lines)
        weighted = sum((page.confidence or 0) * len(page.text) for page in read)
        return {
            "engine": self.engine,
            "pages": len(read),
            "pages_read": len(self.pages),
            "text_length": chars,
            "confidence": round(weighted / max(sum(len(page.text) for page in read), 1), ROUND) if read else None,
            "ms": round(self.ms, 1),
            "recognition_skipped": self.recognition_skipped,
            "stopped": self.stopped,
        }


class _Clock:
    def __init__(self, limits: Limits) -> None:
        self.started = time.perf_counter()
        self.deadline = self.started + limits.ocr_time_limit_seconds
        self.timings: dict[str, float] = {}

    def over(self) -> bool:
        return time.perf_counter() >= self.deadline

    def add(self, stage: str, since: float) -> None:
        self.timings[stage] = round(self.timings.get(stage, 0.0) + (time.perf_counter() - since) * 1000, 1)

    def result(self, pages: list[OcrPage], stopped: str | None = None) -> OcrResult:
        ms = (time.perf_counter() - self.started) * 1000
        return OcrResult(pages=pages, engine=ENGINE, ms=ms, stopped=stopped, timings=self.timings)


# --- The engine ------------------------------------------------------------------------------


def _engine_get(limits: Limits):
    """RapidOCR, one per process, loaded on first use; OcrUnavailable when it cannot be."""
    global _engine, _load_failure
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                retry_after = limits.labels_retry_minutes * 60
                if _load_failure is not None and time.monotonic() - _load_failure[0] < retry_after:
                    raise OcrUnavailable(_load_failure[1])
                try:
                    _engine = _engine_load()
                except OcrUnavailable as exc:
                    _load_failure = (time.monotonic(), str(exc))
                    log.warning("OCR unavailable: %s; next attempt in %s min", exc, limits.labels_retry_minutes)
                    raise
                _load_failure = None
    return _engine


def _engine_load():
    models = Path(rapidocr.__file__).parent / "models"
    # Models by path: given none, RapidOCR would download them when missing.
    paths = {
        "Det.model_path": models / "PP-OCRv6_det_small.onnx",
        "Rec.model_path": models / "PP-OCRv6_rec_small.onnx",
        "Cls.model_path": models / "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
    }
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise OcrUnavailable(f"the OCR models are missing: {', '.join(missing)}")
    # Its "no text found" is a warning and its model checks are info: both are routine here.
    logging.getLogger("RapidOCR").setLevel(logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.ERROR)
    params = {
        **{key: str(path) for key, path in paths.items()},
        "Global.log_level": "debug" if log.isEnabledFor(logging.DEBUG) else "error",
        "Global.text_score": MIN_CONFIDENCE,
        "Global.max_side_len": READ_SIDE,
        # Detection at the size it is given (we choose it), not scaled up to 736 px.
        "Det.limit_type": "max",
        "Det.limit_side_len": READ_SIDE,
        # One thread: the worker processes are the parallelism.
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
    }
    try:
        engine = rapidocr.RapidOCR(params=params)
        # All three now, not on the first picture with text.
        engine._load_det_model()
        engine._load_cls_model()
        engine._load_rec_model()
    except Exception as exc:  # onnxruntime's and omegaconf's errors have no common base
        raise OcrUnavailable(f"RapidOCR cannot load its models: {exc}") from exc
    return engine


def warm_up(limits: Limits) -> None:
    """Load the engine now rather than on the first picture (each worker, after the fork)."""
    _engine_get(limits)


# --- Reading -----------------------------------------------------------------------------------


def _bgr(picture: Image.Image, side: int) -> np.ndarray:
    """The picture as the BGR array the models take, at most `side` px long."""
    rgb = picture if picture.mode == "RGB" else picture.convert("RGB")
    if max(rgb.size) > side:
        rgb = rgb.copy()
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def _has_text(engine, picture: Image.Image) -> bool:
    found = engine(_bgr(picture, GATE_SIDE), use_det=True, use_cls=False, use_rec=False)
    return getattr(found, "boxes", None) is not None and len(found.boxes) > 0


def _read(engine, pixels: np.ndarray) -> list[dict]:
    """Detection, direction and recognition over the whole array; lines in reading order."""
    height, width = pixels.shape[:2]
    found = engine(pixels, use_det=True, use_cls=True, use_rec=True, return_word_box=True)
    if getattr(found, "txts", None) is None or found.boxes is None:
        return []
    # Word boxes line up with the lines only if every line has some (RapidOCR drops empty ones).
    words = list(found.word_results or ())
    if len(words) != len(found.txts):
        words = []
    lines = []
    for index, (text, score, box) in enumerate(zip(found.txts, found.scores, found.boxes, strict=True)):
        text = " ".join(text.split())
        if not text:
            continue
        line_words = words[index] if index < len(words) else ()
        lines.append(
            {
                "text": text,
                "confidence": round(float(score), ROUND),
                "box": [[_frac(x, width), _frac(y, height)] for x, y in np.asarray(box).tolist()],
                "words": [
                    {"text": word, "box": _bbox(points, width, height)} for word, _score, points in line_words if word
                ],
            }
        )
    return lines


def _frac(value: float, size: int) -> float:
    return round(min(max(float(value) / size, 0.0), 1.0), ROUND)


def _bbox(points, width: int, height: int) -> list[float]:
    xs, ys = [point[0] for point in points], [point[1] for point in points]
    return [_frac(min(xs), width), _frac(min(ys), height), _frac(max(xs), width), _frac(max(ys), height)]


def ocr_picture(picture: Image.Image | bytes, *, limits: Limits, gate: Image.Image | None = None) -> OcrResult:
    """The text in a picture (decoded, or its encoded bytes), as one page.

    `gate` is a smaller copy for the first detection, when the caller has one; when that
    finds no text the recogniser does not run (the page comes back with `recognised` False).
    Raises OcrUnavailable when the engine cannot be loaded.
    """
    if isinstance(picture, bytes | bytearray):
        picture = Image.open(io.BytesIO(picture))
        if picture.width * picture.height > limits.max_pixels:
            raise ValueError(f"the picture has more than {limits.max_pixels} pixels")
        picture.load()
    engine = _engine_get(limits)
    clock = _Clock(limits)
    pixels_source = gate if gate is not None else picture
    started = time.perf_counter()
    has_text = _has_text(engine, pixels_source)
    clock.add("detect", started)
    if not has_text:
        return clock.result([OcrPage(number=1, width=picture.width, height=picture.height, recognised=False)])
    started = time.perf_counter()
    pixels = _bgr(picture, READ_SIDE)
    lines = _read(engine, pixels)
    clock.add("read", started)
    return clock.result([OcrPage(number=1, width=pixels.shape[1], height=pixels.shape[0], lines=lines)])


def ocr_pdf_pages(path: str | Path, *, pages: Sequence[int], limits: Limits) -> OcrResult:
    """The text on the PDF's `pages` (from 0), rendered at PDF_DPI; at most `ocr_max_pages` of
    them and `ocr_time_limit_seconds` in all. Raises OcrUnavailable without an engine."""
    engine = _engine_get(limits)
    clock = _Clock(limits)
    read: list[OcrPage] = []
    for count, index in enumerate(pages):
        if count >= limits.ocr_max_pages:
            return clock.result(read, "page_limit")
        if clock.over():
            return clock.result(read, "time_limit")
        started = time.perf_counter()
        picture = _render(path, index, limits)
        clock.add("render", started)
        if picture is None:
            continue
        started = time.perf_counter()
        pixels = _bgr(picture, READ_SIDE)
        lines = _read(engine, pixels)
        clock.add("read", started)
        read.append(OcrPage(number=index + 1, width=pixels.shape[1], height=pixels.shape[0], lines=lines))
    return clock.result(read)


def _render(path: str | Path, index: int, limits: Limits) -> Image.Image | None:
    """Page `index` as a picture, or None when PDFium cannot render it."""
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError:
            return None
        try:
            page = pdf[index]
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                return None
            scale = min(PDF_DPI / 72, (limits.ocr_max_page_pixels / (width * height)) ** 0.5)
            # convert() copies: the picture from to_pil() shares memory with PDFium's bitmap.
            return page.render(scale=scale).to_pil().convert("RGB")
        except pdfium.PdfiumError:
            return None
        finally:
            pdf.close()
