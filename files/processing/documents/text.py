"""Plain text, CSV, Markdown and subtitles: the encoding detected, subtitles reduced to dialogue."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import charset_normalizer

from files.processing.documents.common import DocumentResult, TextSink
from files.processing.limits import Limits

# Content type → the format named in the metadata.
FORMATS = {
    "text/plain": "TXT",
    "text/markdown": "Markdown",
    "text/x-markdown": "Markdown",
    "text/csv": "CSV",
    "application/x-subrip": "SRT",
    "text/srt": "SRT",
    "text/x-srt": "SRT",
    "text/vtt": "WebVTT",
}
_SUBTITLE_FORMATS = frozenset({"SRT", "WebVTT"})

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16"),
)
_DETECTION_SAMPLE = 64 * 1024


def extract(path: Path, sink: TextSink, limits: Limits, *, label: str) -> DocumentResult:
    # Four bytes per character covers every encoding we decode; the rest of a huge file is never read.
    with path.open("rb") as fh:
        raw = fh.read(max(sink.limit * 4 + 4, _DETECTION_SAMPLE))
        truncated = bool(fh.read(1))
    codec, charset = _detect_charset(raw, truncated)
    text = codecs.getincrementaldecoder(codec)(errors="replace").decode(raw, final=not truncated)
    if label in _SUBTITLE_FORMATS:
        text = _subtitle_text(text)
    sink.add(text)
    metadata: dict[str, object] = {"format": label}
    if charset:
        metadata["charset"] = charset
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _detect_charset(raw: bytes, truncated: bool) -> tuple[str, str | None]:
    """(Python codec, charset label) for `raw`; the label is None when nothing fits."""
    for bom, codec, label in _BOMS:
        if raw.startswith(bom):
            return codec, label
    try:
        # Valid UTF-8 is almost never an accident, and detectors are weakest on short ASCII-heavy text.
        codecs.getincrementaldecoder("utf-8")().decode(raw, final=not truncated)
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", "utf-8" if raw else None
    matches = charset_normalizer.from_bytes(raw[:_DETECTION_SAMPLE])
    best = matches.best()
    if best is None:
        return "utf-8", None
    # charset-normalizer scores the single-byte Latin code pages the same on most Western text and then
    # picks by its own order: it chose cp1250 for a Portuguese Latin-1 file, turning "õ" into "ő". Among
    # equally good guesses prefer windows-1252, which such files nearly always are (HTML5 reads Latin-1 so).
    tied = [m.encoding for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
    codec = "cp1252" if "cp1252" in tied else best.encoding
    return codec, _charset_label(codec)


def _charset_label(codec: str) -> str:
    name = codecs.lookup(codec).name
    if re.fullmatch(r"cp125\d", name):
        return f"windows-{name[2:]}"
    return re.sub(r"^iso8859-", "iso-8859-", name)


_CUE_TIMING = re.compile(r"\d+:\d{2}(?::\d{2})?[,.]\d{1,3}\s*-->")
_VTT_BLOCKS = re.compile(r"(?:WEBVTT|NOTE|STYLE|REGION)\b")
_SUBTITLE_MARKUP = re.compile(r"<[^>\n]*>|\{\\[^}\n]*\}")  # <i>, <c.yellow>, <00:01.000>, {\an8}


def _subtitle_text(text: str) -> str:
    """The spoken lines of an SRT or WebVTT file, without cue numbers, timings or markup."""
    lines = text.splitlines()
    kept: list[str] = []
    skipping_block = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        block_start = index == 0 or not lines[index - 1].strip()
        if not stripped:
            skipping_block = False
            kept.append("")
        elif skipping_block or _CUE_TIMING.search(line):
            continue
        elif block_start and _VTT_BLOCKS.match(stripped):
            skipping_block = True  # the WebVTT header, comments and style sheets are not dialogue
        elif index + 1 < len(lines) and _CUE_TIMING.search(lines[index + 1]):
            continue  # SRT sequence number or WebVTT cue identifier
        else:
            kept.append(_SUBTITLE_MARKUP.sub("", line))
    return "\n".join(kept)
