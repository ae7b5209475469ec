"""What a deployment configures for processing, handed to the library by its caller.

The library reads no settings: `files.services.processing.processing_limits()` builds this
from them, so the same code runs under a worker, a command, a benchmark or a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    # Images over this many pixels, or with a longer side, fail before they are decoded.
    max_pixels: int
    max_side: int
    # Extracted text kept per file (characters); readers stop once they have that much.
    max_text_chars: int
    # Decompressed bytes read from one ZIP-based office file before it counts as a bomb.
    max_unzipped_bytes: int
    # SVG is checked as text before it is accepted; these bound that check.
    max_svg_bytes: int
    max_svg_uses: int
    # XML elements parsed from one office document before it counts as too complex.
    max_xml_elements: int
    # The content types accepted at upload.
    allowed_types: frozenset[str]
    # Where the label classifier is cached as ONNX, and how long a process that could not
    # load it labels nothing before it tries again.
    model_cache_dir: Path
    labels_retry_minutes: float
    # OCR: pages read per file, and the time it may take (checked between pages and stages;
    # the task's soft time limit bounds the rest); a rendered PDF page has at most
    # `ocr_max_page_pixels`.
    ocr_max_pages: int = 20
    ocr_time_limit_seconds: float = 60.0
    ocr_max_page_pixels: int = 4_000_000
