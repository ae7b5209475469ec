"""What a file really is, from its bytes: never from its name or the client's header.

The name only decides between text flavours (a `.csv` and a `.txt` look alike) and tells
us when it disagrees with the content (recorded as `extension_mismatch`).
"""

from __future__ import annotations

import codecs
import mimetypes
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from files.processing.containers import (
    OLE_MAGIC,
    ZIP_DEFLATED,
    ZIP_STORED,
    ContainerError,
    ole_root_streams,
    zip_entries,
    zip_member_head,
)
from files.processing.errors import ContentRefused
from files.processing.limits import Limits
from files.processing.svg import check_svg

HEAD_BYTES = 64 * 1024

# What teams store, and we process; a deployment may narrow it (`Limits.allowed_types`).
DEFAULT_ALLOWED = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "image/tiff",
        "image/bmp",
        "image/vnd.microsoft.icon",
        "image/heic",
        "image/heif",
        "image/avif",
        "image/jp2",
        "image/jpx",
        "image/svg+xml",
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-excel.sheet.macroEnabled.12",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "text/plain",
        "text/markdown",
        "text/csv",
        "application/x-subrip",
        "text/vtt",
        "message/rfc822",
    }
)

# Extensions that are programs or active content whatever their bytes look like.
DANGEROUS_EXTENSIONS = frozenset(
    ".exe .dll .com .scr .msi .bat .cmd .ps1 .vbs .vbe .js .jse .wsf .hta .sh .bash .php .phtml "
    ".jar .app .html .htm .xhtml .shtml .svgz".split()
)

# Extensions the standard mimetypes table does not know (or maps differently).
EXTENSION_TYPES = {
    ".apng": "image/png",
    ".avifs": "image/avif",
    ".mpo": "image/jpeg",
    ".jfif": "image/jpeg",
    ".jpf": "image/jpx",
    ".jpx": "image/jpx",
    ".j2k": "image/jp2",
    ".heic": "image/heic",
    ".heif": "image/heic",
    ".ico": "image/vnd.microsoft.icon",
    ".xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
}

TEXT_FLAVOURS = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".eml": "message/rfc822",
}

# Families used to decide whether a name and the content disagree harmlessly.
FAMILY_BY_TYPE = {"image/jpx": "image/jp2", "image/heif": "image/heic", "text/markdown": "text/plain"}


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    extension_mismatch: bool


def _refuse(message: str) -> ContentRefused:
    return ContentRefused(message)


def sniff(file: BinaryIO, name: str, limits: Limits) -> Sniffed:
    """The real content type of `file` (read from its start, position restored).

    Raises ContentRefused for executables, HTML, scripts, unsafe SVG and anything not on
    the allowed list.
    """
    position = file.tell()
    file.seek(0)
    head = file.read(HEAD_BYTES)
    try:
        content_type = _from_bytes(head, file, name, limits)
    finally:
        file.seek(position)
    extension = os.path.splitext(name)[1].lower()
    if extension in DANGEROUS_EXTENSIONS:
        raise _refuse(f"Files named {extension} are not accepted: they can run code.")
    if content_type not in limits.allowed_types:
        raise _refuse(f"This type of file ({content_type}) is not accepted.")
    return Sniffed(
        content_type=content_type, extension_mismatch=extension_mismatch(content_type=content_type, name=name)
    )


def extension_mismatch(*, content_type: str, name: str) -> bool:
    """Whether the name's extension disagrees with the real type (a PNG named `.jpg`)."""
    return _mismatch(content_type, os.path.splitext(name)[1].lower())


def _mismatch(content_type: str, extension: str) -> bool:
    if not extension:
        return False
    guessed = TEXT_FLAVOURS.get(extension) or EXTENSION_TYPES.get(extension) or mimetypes.guess_type("x" + extension)[0]
    if guessed is None:
        return True
    family = FAMILY_BY_TYPE.get(content_type, content_type)
    if family.startswith("text/") and guessed.startswith("text/"):
        return False
    return FAMILY_BY_TYPE.get(guessed, guessed) != family and not _same_image_alias(guessed, content_type)


def _same_image_alias(guessed: str, content_type: str) -> bool:
    aliases = {("image/x-icon", "image/vnd.microsoft.icon"), ("image/heif", "image/heic"), ("image/jp2", "image/jpx")}
    return (guessed, content_type) in aliases or (content_type, guessed) in aliases


def _from_bytes(head: bytes, file: BinaryIO, name: str, limits: Limits) -> str:
    if not head:
        raise _refuse("The file is empty.")
    if head.startswith(
        (b"\x7fELF", b"MZ", b"\xfe\xed\xfa", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")
    ):
        raise _refuse("Executable programs are not accepted.")
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"BM") and len(head) > 14:
        return "image/bmp"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "image/vnd.microsoft.icon"
    if head[4:8] == b"ftyp":
        return _iso_media(head)
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n"):
        return "image/jpx" if b"jpx " in head[16:40] else "image/jp2"
    if head.startswith(b"\xff\x4f\xff\x51"):
        return "image/jp2"
    if b"%PDF-" in head[:1024]:
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _zip_document(file)
    if head.startswith(OLE_MAGIC):
        return _ole_document(file)
    return _text(head, file, name, limits)


def _iso_media(head: bytes) -> str:
    brands = {head[i : i + 4] for i in range(8, min(len(head), 64), 4)}
    if brands & {b"avif", b"avis"}:
        return "image/avif"
    if brands & {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}:
        return "image/heic"
    if brands & {b"mif1", b"msf1"}:
        return "image/heif"
    raise _refuse("Video and other ISO media files are not accepted.")


OOXML = {
    "word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


# Uploads are checked in web processes, so containers are read within small fixed bounds
# (files.processing.containers): no member is decompressed beyond MIMETYPE_MAX_BYTES.
MAX_ZIP_MEMBERS = 20_000
MIMETYPE_MAX_BYTES = 128
ODF_MIMETYPE = re.compile(r"application/vnd\.oasis\.opendocument\.[a-z]+(?:-[a-z]+)*")
MAX_OLE_ENTRIES = 1024
MAX_OLE_SECTORS = 4096


def _zip_document(file: BinaryIO) -> str:
    try:
        return _zip_type(file)
    except ContainerError as exc:
        raise _refuse(str(exc)) from None


def _zip_type(file: BinaryIO) -> str:
    mimetype, content_types, folders, macros = None, False, set(), False
    for entry in zip_entries(file, max_entries=MAX_ZIP_MEMBERS):
        # What the worker cannot read is refused now rather than failed later.
        if entry.method not in (ZIP_STORED, ZIP_DEFLATED):
            raise ContainerError(f"Member {entry.name} is compressed with a method documents never use.")
        if entry.name == "mimetype":
            mimetype = entry
        content_types = content_types or entry.name == "[Content_Types].xml"
        folders.update(prefix for prefix in OOXML if entry.name.startswith(prefix))
        macros = macros or entry.name.endswith("vbaProject.bin")
    if mimetype is not None:
        declared = zip_member_head(file, mimetype, MIMETYPE_MAX_BYTES).decode("ascii", "replace").strip()
        if ODF_MIMETYPE.fullmatch(declared):
            return declared
        if declared.startswith("application/vnd.oasis.opendocument."):
            raise ContainerError("This OpenDocument file is damaged: its mimetype member is not a document type.")
    if content_types:
        for prefix, content_type in OOXML.items():
            if prefix in folders:
                if prefix == "xl/" and macros:
                    return "application/vnd.ms-excel.sheet.macroEnabled.12"
                return content_type
    raise ContainerError("ZIP archives are not accepted; upload the files inside.")


def _ole_document(file: BinaryIO) -> str:
    try:
        streams = ole_root_streams(file, max_entries=MAX_OLE_ENTRIES, max_sectors=MAX_OLE_SECTORS)
    except ContainerError as exc:
        raise _refuse(str(exc)) from None
    if "worddocument" in streams:
        return "application/msword"
    if streams & {"workbook", "book"}:
        return "application/vnd.ms-excel"
    if "powerpoint document" in streams:
        return "application/vnd.ms-powerpoint"
    raise _refuse("This kind of OLE file is not accepted.")


# Browsers allow no space after "<" in a tag at all; the bound keeps every match shorter than
# the overlap between reads, so markup split across two reads is still found.
HTML = re.compile(r"<\s{0,64}(?:!doctype\s{1,64}html|html|script|iframe|body|head)\b", re.I)
# An <svg> element, with a namespace prefix or without.
SVG_START = re.compile(r"<(?:[a-z_][\w.-]*:)?svg[\s/>]", re.I)
EMAIL_HEADERS = re.compile(r"(?:(?:Received|Return-Path|From|To|Subject|Date|MIME-Version|Message-ID):[^\n]*\r?\n)+")

# Text is checked in its own encoding: only a byte-order mark announces one whose markup is not
# plain ASCII bytes (UTF-16 and UTF-32); UTF-16 without one has NULs and is refused as binary.
# Everything else we accept as text (UTF-8, the Windows and ISO code pages, Shift-JIS, GBK, ...)
# writes "<", letters and digits as ASCII, so Latin-1, which maps each byte to one character and
# never fails, finds the same markup. UTF-32 marks come first: they begin with UTF-16's.
TEXT_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# The whole text is scanned for HTML, a read at a time, each read overlapping the last by more
# than any match is long.
SCAN_CHUNK_BYTES = 1024 * 1024
SCAN_OVERLAP_CHARS = 256


def _text_codec(head: bytes) -> str:
    for bom, codec in TEXT_BOMS:
        if head.startswith(bom):
            return codec
    return "latin-1"


def _decoded(file: BinaryIO, codec: str) -> Iterator[str]:
    """The file as text, a read at a time."""
    file.seek(0)
    decoder = codecs.getincrementaldecoder(codec)(errors="replace")
    while chunk := file.read(SCAN_CHUNK_BYTES):
        if text := decoder.decode(chunk):
            yield text
    if text := decoder.decode(b"", final=True):
        yield text


def _search(file: BinaryIO, codec: str, pattern: re.Pattern) -> bool:
    if codec == "latin-1":
        return _search_bytes(file, re.compile(pattern.pattern.encode(), pattern.flags & ~re.UNICODE))
    tail = ""
    for text in _decoded(file, codec):
        window = tail + text
        if pattern.search(window):
            return True
        tail = window[-SCAN_OVERLAP_CHARS:]
    return False


def _search_bytes(file: BinaryIO, pattern: re.Pattern) -> bool:
    """`_search` for text whose markup is ASCII bytes: no decoding (it runs on every upload),
    and reads without a "<" skipped at memchr speed."""
    file.seek(0)
    tail = b""
    while chunk := file.read(SCAN_CHUNK_BYTES):
        window = tail + chunk
        if b"<" in window and pattern.search(window):
            return True
        tail = window[-SCAN_OVERLAP_CHARS:]
    return False


def _text(head: bytes, file: BinaryIO, name: str, limits: Limits) -> str:
    codec = _text_codec(head)
    start = codecs.getincrementaldecoder(codec)(errors="replace").decode(head)
    stripped = start.lstrip("\ufeff \t\r\n")
    if stripped[:5].lower() == "<?xml" or SVG_START.search(start[:2048]):
        return _svg(file, codec, limits)
    if stripped.startswith("#!") or stripped[:5].lower() == "<?php":
        raise _refuse("Scripts are not accepted.")
    if not _looks_like_text(start):
        raise _refuse("This type of file is not accepted.")
    extension = os.path.splitext(name)[1].lower()
    # Most mail has an HTML part: a message is kept as message/rfc822, which is only ever
    # served as a download, and its text is taken from its parts.
    if EMAIL_HEADERS.match(stripped) and extension in ("", ".eml"):
        return "message/rfc822"
    if _search(file, codec, HTML):
        raise _refuse("HTML pages are not accepted; they could run scripts in a browser.")
    if extension in TEXT_FLAVOURS:
        return TEXT_FLAVOURS[extension]
    return "text/plain"


# Control characters text does not have: all below a space but tab, line ends, form feed and
# escape. Counted by the regex engine, not a Python loop: this runs on every upload.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")


def _looks_like_text(start: str) -> bool:
    if "\x00" in start:
        return False
    return len(CONTROL_CHARACTERS.findall(start)) <= len(start) // 100


def _svg(file: BinaryIO, codec: str, limits: Limits) -> str:
    file.seek(0)
    raw = file.read(limits.max_svg_bytes + 1)
    if len(raw) > limits.max_svg_bytes:
        raise _refuse("SVG files larger than the SVG limit are not accepted.")
    body = "".join(_decoded(file, codec))
    # The parser reads text without a byte-order mark as UTF-8, as browsers do without a declaration.
    check_svg(body, raw.decode("utf-8", "replace") if codec == "latin-1" else body.lstrip("\ufeff"), limits)
    return "image/svg+xml"
