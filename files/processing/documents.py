"""Metadata, full text and a first-page preview from documents.

Handles PDF, Office Open XML (DOCX, XLSX/XLSM, PPTX), OpenDocument (ODT, ODS, ODP), legacy OLE2 Office
(DOC, XLS, PPT), plain text, CSV, Markdown, subtitles and e-mail. Everything here reads untrusted uploads:

- Extracted text is cut to PROCESSING_MAX_TEXT_CHARS, and readers stop once they have that much.
- ZIP-based office files are read against a budget of PROCESSING_MAX_UNZIPPED_BYTES decompressed bytes,
  checked on the declared sizes before a part is opened and counted while it is read.
- XML is parsed with defusedxml and streamed; DTDs and entity declarations are refused.
- A broken or hostile file raises ProcessingError; a valid file we merely cannot read inside (a PDF or
  Office file locked with a password) is not a failure: it comes back with `encrypted: True` and no text.

When libmagic only says `application/octet-stream`, `application/zip`, an OLE2 container or "empty", the
file's own signature decides: libmagic misses PDFs with junk before `%PDF-` (which PDF readers accept)
and DOCX packages whose ZIP members are in an unusual order.
"""

from __future__ import annotations

import codecs
import os
import posixpath
import re
import struct
import threading
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, ParseError

import charset_normalizer
import olefile
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from files.processing.errors import ProcessingError
from files.processing.limits import Limits

if TYPE_CHECKING:
    from PIL import Image


@dataclass
class DocumentResult:
    # Keys only when known: page_count, title, author, subject, created (ISO 8601), encrypted,
    # password_required, format, charset, sheets, has_macros, attachment_count.
    metadata: dict[str, object]
    text: str
    preview: Image.Image | None = None


_PDF_TYPES = frozenset({"application/pdf"})
# For these the bytes still decide between ZIP and OLE2: a password-protected DOCX is an OLE2 file.
_OFFICE_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
    }
)
# What libmagic says when it cannot tell; the file's signature decides.
_GENERIC_TYPES = frozenset(
    {
        "application/octet-stream",
        "application/zip",
        "application/x-zip-compressed",
        "application/x-ole-storage",
        "application/cdfv2",
        "inode/x-empty",
        "application/x-empty",
    }
)
_TEXT_FORMATS = {
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
_EMAIL_TYPES = frozenset({"message/rfc822"})


def extract_document(path: str | os.PathLike[str], content_type: str, limits: Limits) -> DocumentResult:
    """Read a document's metadata, text (bounded) and, for a PDF, a first-page preview."""
    path = Path(path)
    mime = content_type.split(";", 1)[0].strip().lower()
    sink = _TextSink(limits.max_text_chars)

    if mime in _TEXT_FORMATS:
        return _extract_text(path, sink, _TEXT_FORMATS[mime])
    if mime not in _PDF_TYPES | _OFFICE_TYPES | _GENERIC_TYPES | _EMAIL_TYPES:
        raise ProcessingError("unsupported_document", f"Documents of type {mime or 'unknown'} are not supported.")
    if path.stat().st_size == 0:
        raise ProcessingError("empty_file", "The file is empty (0 bytes), so there is no document to read.")
    if mime in _EMAIL_TYPES:
        return _extract_email(path, sink)
    if mime in _PDF_TYPES:
        return _extract_pdf(path, sink)
    return _extract_by_signature(path, sink, limits, declared_office=mime in _OFFICE_TYPES)


def _extract_by_signature(path: Path, sink: _TextSink, limits: Limits, *, declared_office: bool) -> DocumentResult:
    with path.open("rb") as fh:
        head = fh.read(1024)
    if head.startswith(olefile.MAGIC):
        return _extract_ole(path, sink, declared_office=declared_office)
    # A declared office type goes to zipfile even without a signature at byte 0: it finds archives that
    # have a prefix (self-extractors) and gives a precise error for everything else.
    if declared_office or head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _extract_zip_package(path, sink, limits, declared_office=declared_office)
    # PDF readers accept up to 1 KiB of junk before the header; libmagic does not.
    if b"%PDF-" in head:
        return _extract_pdf(path, sink)
    raise ProcessingError("unsupported_document", "The file is not a PDF, Office, OpenDocument or text document.")


# --- Text bound ------------------------------------------------------------------------

# NUL cannot be stored in PostgreSQL text, lone surrogates cannot be encoded, and the other control
# characters are layout debris from PDF and Word that only hurts search.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_METADATA_MAX_CHARS = 1000


class _TextSink:
    """Collects extracted text up to `limit` characters, so readers can stop early on huge documents."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self._parts: list[str] = []
        self._size = 0

    @property
    def full(self) -> bool:
        return self._size >= self.limit

    def add(self, piece: str) -> None:
        if self.full or not piece:
            return
        piece = _CONTROL_CHARS.sub("", piece.replace("\r\n", "\n").replace("\r", "\n"))
        self._parts.append(piece)
        self._size += len(piece)

    def text(self) -> str:
        text = re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", "".join(self._parts)).strip()
        return text[: self.limit]


def _clean(value: object) -> str | None:
    """A metadata string without control characters or padding, or None when nothing is left."""
    if not isinstance(value, str):
        return None
    # A hostile file can put megabytes into a title; metadata lands in a JSON column and in the UI.
    value = _CONTROL_CHARS.sub("", value).strip()[:_METADATA_MAX_CHARS]
    return value or None


def _set_text_fields(metadata: dict[str, object], **values: object) -> None:
    for key, value in values.items():
        if cleaned := _clean(value):
            metadata[key] = cleaned


# --- PDF -------------------------------------------------------------------------------

# PDFium is not thread-safe: a worker that runs tasks in threads must never enter it twice at once.
_PDFIUM_LOCK = threading.Lock()
_PREVIEW_LONG_SIDE = 1600
_PDFIUM_REASONS = {
    pdfium_c.FPDF_ERR_FILE: "the file could not be read",
    pdfium_c.FPDF_ERR_FORMAT: "its structure is damaged or it is not a PDF",
}


def _extract_pdf(path: Path, sink: _TextSink) -> DocumentResult:
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(path)
        except pdfium.PdfiumError as exc:
            if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
                # Decision: a PDF that needs a password to open is a valid file the user chose to store, so it
                # is not marked failed. Without the password even its page count and Info strings are
                # encrypted, so all we can honestly report is that it is locked.
                metadata = {"format": "PDF", "encrypted": True, "password_required": True}
                return DocumentResult(metadata=metadata, text="", preview=None)
            reason = _PDFIUM_REASONS.get(exc.err_code, "PDFium could not open it")
            raise ProcessingError("corrupt_document", f"The PDF could not be parsed: {reason}.") from exc

        with pdf:
            metadata = _pdf_metadata(pdf)
            pdf.init_forms()  # so filled-in form fields show in the preview, as in a viewer
            preview = None
            for index in range(len(pdf)):
                if index > 0 and sink.full:
                    break
                try:
                    page = pdf[index]
                except pdfium.PdfiumError:
                    continue  # one broken page should not cost the rest of the text
                try:
                    if index == 0:
                        preview = _pdf_preview(page)
                    sink.add(_pdf_page_text(page) + "\n\n")
                finally:
                    page.close()
    return DocumentResult(metadata=metadata, text=sink.text(), preview=preview)


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
    _set_text_fields(metadata, title=info.get("Title"), author=info.get("Author"), subject=info.get("Subject"))
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


def _iso_datetime(value: str | None) -> str | None:
    """ISO 8601 for a W3CDTF timestamp as Office and OpenDocument write it, or None if it does not parse."""
    if not value:
        return None
    # OpenDocument writes nanoseconds; fromisoformat takes at most microseconds.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        return datetime.fromisoformat(value).isoformat()
    except ValueError:
        return None


# --- ZIP packages: Office Open XML and OpenDocument ---------------------------------------

# Deflate tops out near 1000:1 and real office XML compresses 5-20:1, so a large part far past 100:1 is
# built to expand, whatever its declared size says about the budget.
_ZIP_MAX_RATIO = 100
_ZIP_RATIO_MIN_BYTES = 10 * 1024**2
# Real packages have tens to a few thousand parts; zipfile holds the whole central directory in memory.
_ZIP_MAX_MEMBERS = 20_000
_READ_CHUNK = 64 * 1024


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    if size < 1024**2:
        return f"{size / 1024:,.1f} KiB"
    return f"{size / 1024**2:,.1f} MiB"


def _small_int(text: str | None) -> int | None:
    # int() refuses more than 4300 digits and accepts non-ASCII digits; attribute values are untrusted.
    text = (text or "").strip()
    return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else None


class _Package:
    """A ZIP-based office file, read within a budget of decompressed bytes."""

    def __init__(self, archive: zipfile.ZipFile, budget: int) -> None:
        infos = archive.infolist()
        if len(infos) > _ZIP_MAX_MEMBERS:
            raise ProcessingError(
                "archive_bomb", f"The package holds {len(infos):,} members, far more than any office file."
            )
        for info in infos:
            if info.file_size >= _ZIP_RATIO_MIN_BYTES and info.file_size > _ZIP_MAX_RATIO * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise ProcessingError(
                    "archive_bomb",
                    f"Member {info.filename} would expand {ratio:,}:1 to {_human_size(info.file_size)}, "
                    "the mark of a decompression bomb.",
                )
        self._archive = archive
        # OPC part names are case-insensitive.
        self._members = {info.filename.lower(): info for info in infos}
        self._budget = budget
        self._remaining = budget

    @property
    def names(self) -> list[str]:
        return [info.filename for info in self._members.values()]

    def has(self, name: str) -> bool:
        return name.lower() in self._members

    def open(self, name: str) -> _MemberReader:
        info = self._members.get(name.lower())
        if info is None:
            raise ProcessingError("corrupt_document", f"The package has no part {name}.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            # Office writers only use deflate. zipfile inflates bzip2 and LZMA members with no limit per read,
            # so a few KiB of a hostile member could become gigabytes before a single byte is counted.
            raise ProcessingError(
                "corrupt_document", f"Part {name} uses a compression method that office files never use."
            )
        if info.file_size > self._remaining:
            raise ProcessingError(
                "archive_bomb",
                f"Part {name} declares {_human_size(info.file_size)} uncompressed, more than the "
                f"{_human_size(self._remaining)} left of the {_human_size(self._budget)} allowed for one document.",
            )
        try:
            stream = self._archive.open(info)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError) as exc:
            raise ProcessingError("corrupt_document", f"Part {name} of the package cannot be read ({exc}).") from exc
        return _MemberReader(self, stream, name)

    def read(self, name: str, limit: int) -> bytes:
        reader = self.open(name)
        try:
            return reader.read(limit)
        finally:
            reader.close()

    def charge(self, size: int, name: str) -> None:
        # Counted as well as checked up front: the declared sizes come from the attacker.
        self._remaining -= size
        if self._remaining < 0:
            raise ProcessingError(
                "archive_bomb",
                f"Reading {name} passed the limit of {_human_size(self._budget)} decompressed for one document.",
            )


class _MemberReader:
    """A ZIP member stream that charges every decompressed byte to its package's budget."""

    def __init__(self, package: _Package, stream: zipfile.ZipExtFile, name: str) -> None:
        self._package = package
        self._stream = stream
        self._name = name

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read(_READ_CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        try:
            data = self._stream.read(size)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
            raise ProcessingError("corrupt_document", f"Part {self._name} of the package is damaged ({exc}).") from exc
        self._package.charge(len(data), self._name)
        return data

    def close(self) -> None:
        self._stream.close()


def _extract_zip_package(path: Path, sink: _TextSink, limits: Limits, *, declared_office: bool) -> DocumentResult:
    try:
        archive = zipfile.ZipFile(path)
    # A damaged central directory can claim a "ZIP version" zipfile refuses with NotImplementedError.
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
        raise ProcessingError(
            "corrupt_document",
            "The file is neither a readable ZIP package nor an OLE2 compound file, so it is not an Office document.",
        ) from exc
    with archive:
        package = _Package(archive, limits.max_unzipped_bytes)
        if package.has("[Content_Types].xml"):
            return _extract_ooxml(package, sink)
        if package.has("mimetype") or (package.has("content.xml") and package.has("META-INF/manifest.xml")):
            return _extract_odf(package, sink)
    if declared_office:
        raise ProcessingError(
            "corrupt_document",
            "The ZIP package has neither [Content_Types].xml (Office Open XML) nor a mimetype member "
            "(OpenDocument), so it is not an office document.",
        )
    raise ProcessingError("unsupported_document", "The file is a ZIP archive, not an Office or OpenDocument file.")


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xml_elements(
    package: _Package, name: str, wanted: frozenset[str], drop: frozenset[str] = frozenset()
) -> Iterator[Element]:
    """Stream part `name`, yielding each complete element whose local name is in `wanted`.

    Yielded elements are detached from their parent afterwards, so a huge part is read in near-constant
    memory. Subtrees named in `drop` are never yielded and are detached when they end.
    """
    parents: list[Element] = []
    dropping = 0
    reader = package.open(name)
    try:
        # Office XML never has a DTD, so refusing one costs nothing and rules out entity tricks entirely.
        for event, elem in iterparse(reader, events=("start", "end"), forbid_dtd=True):
            local = _local(elem.tag)
            if event == "start":
                parents.append(elem)
                if local in drop:
                    dropping += 1
                continue
            parents.pop()
            if local in drop:
                dropping -= 1
            elif local in wanted and not dropping:
                yield elem
            else:
                continue
            if parents:
                parents[-1].remove(elem)
    except ParseError as exc:
        raise ProcessingError(
            "corrupt_document", f"Part {name} of the package is not well-formed XML ({exc})."
        ) from exc
    except DefusedXmlException as exc:
        raise ProcessingError(
            "corrupt_document",
            f"Part {name} declares a DTD or XML entities, which office files never contain; it was not parsed.",
        ) from exc
    finally:
        reader.close()


def _relationships(package: _Package, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type's last segment, target part name) for `part` ("" for the package)."""
    directory, filename = posixpath.split(part)
    rels_name = posixpath.join(directory, "_rels", f"{filename}.rels")
    if not package.has(rels_name):
        return {}
    relationships = {}
    for rel in _xml_elements(package, rels_name, frozenset({"Relationship"})):
        if rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        target = target[1:] if target.startswith("/") else posixpath.join(directory, target)
        # The last segment is the same in the transitional and the strict OOXML namespaces.
        rel_type = rel.get("Type", "").rsplit("/", 1)[-1]
        relationships[rel.get("Id", "")] = (rel_type, posixpath.normpath(target))
    return relationships


def _target(relationships: dict[str, tuple[str, str]], rel_type: str) -> str | None:
    return next((target for kind, target in relationships.values() if kind == rel_type), None)


def _rel_id(elem: Element) -> str | None:
    return next((value for key, value in elem.attrib.items() if key.endswith("}id") and "relationships" in key), None)


_OOXML_DEFAULT_MAIN = ("word/document.xml", "xl/workbook.xml", "ppt/presentation.xml")
_OOXML_FORMATS = {"wordprocessingml": "DOCX", "spreadsheetml": "XLSX", "presentationml": "PPTX"}
_OOXML_DIRECTORIES = {"word": "wordprocessingml", "xl": "spreadsheetml", "ppt": "presentationml"}


def _extract_ooxml(package: _Package, sink: _TextSink) -> DocumentResult:
    package_rels = _relationships(package, "")
    main = _target(package_rels, "officeDocument")
    if main is None or not package.has(main):
        main = next((name for name in _OOXML_DEFAULT_MAIN if package.has(name)), None)
    if main is None:
        raise ProcessingError("corrupt_document", "The Office package has no main document part.")

    main_type = _ooxml_content_types(package).get(main.lower(), "").lower()
    family = next((family for family in _OOXML_FORMATS if family in main_type), None)
    family = family or _OOXML_DIRECTORIES.get(main.split("/", 1)[0].lower())
    if family is None:
        raise ProcessingError("unsupported_document", "The Office package is not a Word, Excel or PowerPoint file.")
    label = _OOXML_FORMATS[family]
    if "macroenabled" in main_type:
        label = label[:-1] + "M"

    metadata: dict[str, object] = {"format": label}
    core = _target(package_rels, "core-properties")
    if core and package.has(core):
        metadata.update(_core_properties(package, core))
    if any(name.lower().endswith("vbaproject.bin") for name in package.names):
        metadata["has_macros"] = True

    if family == "wordprocessingml":
        app = _target(package_rels, "extended-properties")
        if app and package.has(app):
            metadata.update(_app_properties(package, app))
        _docx_text(package, main, sink)
    elif family == "spreadsheetml":
        _xlsx_text(package, main, sink, metadata)
    else:
        _pptx_text(package, main, sink, metadata)
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _ooxml_content_types(package: _Package) -> dict[str, str]:
    return {
        override.get("PartName", "").lstrip("/").lower(): override.get("ContentType", "")
        for override in _xml_elements(package, "[Content_Types].xml", frozenset({"Override"}))
    }


def _core_properties(package: _Package, part: str) -> dict[str, object]:
    found: dict[str, str] = {}
    for elem in _xml_elements(package, part, frozenset({"title", "creator", "subject", "created"})):
        found.setdefault(_local(elem.tag), elem.text or "")
    metadata: dict[str, object] = {}
    _set_text_fields(metadata, title=found.get("title"), author=found.get("creator"), subject=found.get("subject"))
    if created := _iso_datetime(found.get("created")):
        metadata["created"] = created
    return metadata


def _app_properties(package: _Package, part: str) -> dict[str, object]:
    # Word stores the page count it last laid out; nothing else can count pages without rendering.
    for pages in _xml_elements(package, part, frozenset({"Pages"})):
        if count := _small_int(pages.text):
            return {"page_count": count}
    return {}


# Inside mc:AlternateContent, mc:Fallback repeats mc:Choice for older readers; reading both doubles text.
_OOXML_DROP = frozenset({"Fallback"})


def _docx_text(package: _Package, main: str, sink: _TextSink) -> None:
    # Table cells hold paragraphs too, so every w:p of the body is read, in document order.
    for paragraph in _xml_elements(package, main, frozenset({"p"}), drop=_OOXML_DROP):
        pieces = []
        for run in paragraph.iter():
            if _local(run.tag) != "r":
                continue
            for child in run:
                name = _local(child.tag)
                if name == "t":
                    pieces.append(child.text or "")
                elif name in ("tab", "ptab"):
                    pieces.append("\t")
                elif name in ("br", "cr"):
                    pieces.append("\n")
                elif name == "noBreakHyphen":
                    pieces.append("-")
        sink.add("".join(pieces) + "\n")
        if sink.full:
            return


def _xlsx_text(package: _Package, workbook: str, sink: _TextSink, metadata: dict[str, object]) -> None:
    rels = _relationships(package, workbook)
    shared_part = _target(rels, "sharedStrings")
    shared = _shared_strings(package, shared_part, sink.limit) if shared_part and package.has(shared_part) else []
    sheets = [
        (sheet.get("name", ""), rels.get(_rel_id(sheet) or "", ("", ""))[1])
        for sheet in _xml_elements(package, workbook, frozenset({"sheet"}))
    ]
    if names := [cleaned for name, _part in sheets[:100] if (cleaned := _clean(name))]:
        metadata["sheets"] = names
    for name, part in sheets:
        if sink.full:
            return
        if not part or not package.has(part):
            continue
        sink.add(f"{name}\n")
        for row in _xml_elements(package, part, frozenset({"row"})):
            values = [value for cell in row if _local(cell.tag) == "c" and (value := _cell_value(cell, shared))]
            if values:
                sink.add("\t".join(values) + "\n")
            if sink.full:
                return
        sink.add("\n")


def _shared_strings(package: _Package, part: str, limit: int) -> list[str]:
    # Kept only up to the text bound, because the table can hold millions of strings. Excel numbers them
    # in order of first use, so the first rows (the ones that fit in the bound) point at the first strings;
    # a cell pointing past what was kept reads as empty.
    strings: list[str] = []
    size = 0
    for item in _xml_elements(package, part, frozenset({"si"})):
        strings.append(_rich_text(item))
        size += max(len(strings[-1]), 1)
        if size >= limit:
            break
    return strings


def _rich_text(elem: Element) -> str:
    # Direct t and r/t children only: rPh holds phonetic readings (furigana) that would duplicate text.
    parts = []
    for child in elem:
        name = _local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


def _cell_value(cell: Element, shared: list[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return next((_rich_text(child) for child in cell if _local(child.tag) == "is"), "")
    value = next((child.text for child in cell if _local(child.tag) == "v"), None)
    if value is None or kind == "e":
        return ""
    if kind == "s":
        index = _small_int(value)
        return shared[index] if index is not None and index < len(shared) else ""
    if kind == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    return value  # numbers and formula results as stored; dates stay serial numbers


def _pptx_text(package: _Package, presentation: str, sink: _TextSink, metadata: dict[str, object]) -> None:
    rels = _relationships(package, presentation)
    # Slide order is the order of sldIdLst, not of the part names (slide10.xml sorts before slide2.xml).
    slide_ids = [_rel_id(slide) for slide in _xml_elements(package, presentation, frozenset({"sldId"}))]
    slides = [rels[rel_id][1] for rel_id in slide_ids if rel_id in rels]
    metadata["page_count"] = len(slides)
    for slide in slides:
        if sink.full:
            return
        if not package.has(slide):
            continue
        for paragraph in _xml_elements(package, slide, frozenset({"p"}), drop=_OOXML_DROP):
            pieces = []
            for child in paragraph:
                name = _local(child.tag)
                if name in ("r", "fld"):
                    pieces.extend(t.text or "" for t in child if _local(t.tag) == "t")
                elif name == "br":
                    pieces.append("\n")
            sink.add("".join(pieces) + "\n")
        sink.add("\n")


_ODF_FORMATS = {"text": "ODT", "spreadsheet": "ODS", "presentation": "ODP", "graphics": "ODG"}
# Deleted text kept for change tracking is not part of the document.
_ODF_DROP = frozenset({"tracked-changes"})
_ODF_MAX_SPACES = 100


def _extract_odf(package: _Package, sink: _TextSink) -> DocumentResult:
    mimetype = package.read("mimetype", 200).decode("ascii", "replace").strip() if package.has("mimetype") else ""
    family = mimetype.removeprefix("application/vnd.oasis.opendocument.").removesuffix("-template")
    metadata: dict[str, object] = {"format": _ODF_FORMATS.get(family, "ODF")}

    # An encrypted ODF package keeps its manifest readable but content.xml and meta.xml are ciphertext.
    if package.has("META-INF/manifest.xml") and any(
        _xml_elements(package, "META-INF/manifest.xml", frozenset({"encryption-data"}))
    ):
        metadata.update(encrypted=True, password_required=True)
        return DocumentResult(metadata=metadata, text="", preview=None)
    if package.has("meta.xml"):
        metadata.update(_odf_meta(package))
    if not package.has("content.xml"):
        raise ProcessingError("corrupt_document", "The OpenDocument package has no content.xml.")
    for block in _xml_elements(package, "content.xml", frozenset({"p", "h"}), drop=_ODF_DROP):
        sink.add(_odf_block_text(block) + "\n")
        if sink.full:
            break
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _odf_meta(package: _Package) -> dict[str, object]:
    wanted = frozenset({"title", "subject", "initial-creator", "creator", "creation-date", "document-statistic"})
    found: dict[str, str] = {}
    page_count = None
    for elem in _xml_elements(package, "meta.xml", wanted):
        name = _local(elem.tag)
        if name == "document-statistic":
            page_count = _small_int(next((v for key, v in elem.attrib.items() if _local(key) == "page-count"), None))
        else:
            found.setdefault(name, elem.text or "")
    metadata: dict[str, object] = {}
    # dc:creator is whoever saved last; meta:initial-creator is the author.
    author = found.get("initial-creator") or found.get("creator")
    _set_text_fields(metadata, title=found.get("title"), author=author, subject=found.get("subject"))
    if created := _iso_datetime(found.get("creation-date")):
        metadata["created"] = created
    if page_count:
        metadata["page_count"] = page_count
    return metadata


def _odf_block_text(block: Element) -> str:
    # Walked with an explicit stack: a hostile file can nest spans deeper than Python's recursion limit.
    parts: list[str] = []
    stack: list[Element | str] = [block]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        name = _local(item.tag)
        if name == "s":
            count = _small_int(next((value for key, value in item.attrib.items() if _local(key) == "c"), None))
            parts.append(" " * min(count or 1, _ODF_MAX_SPACES))
        elif name == "tab":
            parts.append("\t")
        elif name == "line-break":
            parts.append("\n")
        else:
            parts.append(item.text or "")
            for child in reversed(item):
                if child.tail:
                    stack.append(child.tail)
                stack.append(child)
    return "".join(parts)


# --- Legacy Office (OLE2) ----------------------------------------------------------------

# olefile and struct surface damage as any of these; none of them may fail a legacy file's text.
_UNREADABLE = (struct.error, ValueError, IndexError, KeyError, OSError, EOFError, OverflowError, TypeError)
_OLE_CODECS = {1200: "utf-16-le", 65001: "utf-8", 10000: "mac_roman"}


def _extract_ole(path: Path, sink: _TextSink, *, declared_office: bool) -> DocumentResult:
    try:
        ole = olefile.OleFileIO(str(path))
    except _UNREADABLE as exc:
        raise ProcessingError(
            "corrupt_document", "The file is not a readable OLE2 compound file (legacy Office format)."
        ) from exc
    with ole:
        metadata = _ole_summary(ole)
        if ole.exists("EncryptedPackage"):
            # A password-protected DOCX/XLSX/PPTX is an OLE2 wrapper around the encrypted ZIP. Like a locked
            # PDF it is a valid file the user stored, not a failure.
            metadata.update(encrypted=True, password_required=True)
            return DocumentResult(metadata=metadata, text="", preview=None)
        if ole.exists("WordDocument"):
            metadata["format"] = "DOC"
            _doc_text(ole, sink, metadata)
        elif ole.exists("Workbook") or ole.exists("Book"):
            metadata["format"] = "XLS"
            _xls_text(ole, sink, metadata)
        elif ole.exists("PowerPoint Document"):
            metadata["format"] = "PPT"
            _ppt_text(ole, sink, metadata)
        elif not declared_office:
            raise ProcessingError(
                "unsupported_document", "The file is an OLE2 compound file but not a Word, Excel or PowerPoint one."
            )
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _ole_summary(ole: olefile.OleFileIO) -> dict[str, object]:
    try:
        summary = ole.get_metadata()
    except _UNREADABLE:
        return {}
    codec = _OLE_CODECS.get(summary.codepage or 1252, f"cp{summary.codepage}")
    try:
        codecs.lookup(codec)
    except LookupError:
        codec = "cp1252"

    def decoded(value: object) -> object:
        return value.decode(codec, "replace") if isinstance(value, bytes) else value

    metadata: dict[str, object] = {}
    _set_text_fields(
        metadata, title=decoded(summary.title), author=decoded(summary.author), subject=decoded(summary.subject)
    )
    created = summary.create_time
    # A FILETIME of zero comes back as 1601-01-01: no date was stored. FILETIME is UTC.
    if isinstance(created, datetime) and created.year > 1601:
        metadata["created"] = created.replace(tzinfo=UTC).isoformat()
    if isinstance(summary.num_pages, int) and summary.num_pages > 0:
        metadata["page_count"] = summary.num_pages
    return metadata


def _ole_stream(ole: olefile.OleFileIO, name: str) -> bytes:
    try:
        return ole.openstream(name).read()
    except _UNREADABLE:
        return b""


_WORD_FIELD_BEGIN, _WORD_FIELD_SEPARATOR, _WORD_FIELD_END = "\x13", "\x14", "\x15"
_WORD_CHARS = str.maketrans({"\x07": "\t", "\x0b": "\n", "\x0c": "\n", "\x1e": "-", "\x1f": None, "\xa0": " "})


def _doc_text(ole: olefile.OleFileIO, sink: _TextSink, metadata: dict[str, object]) -> None:
    word = _ole_stream(ole, "WordDocument")
    if len(word) < 0x0C:
        return
    flags = struct.unpack_from("<H", word, 0x0A)[0]
    if flags & 0x0100:  # FIB fEncrypted: the text is RC4 or XOR ciphertext
        metadata.update(encrypted=True, password_required=True)
        return
    try:
        text = _doc_piece_text(ole, word, flags, sink.limit)
    except _UNREADABLE:
        # Word 6/95 and damaged files: fall back to whatever runs of readable characters the stream holds.
        text = _printable_runs(word, sink.limit)
    sink.add(text)


def _doc_piece_text(ole: olefile.OleFileIO, word: bytes, flags: int, limit: int) -> str:
    """The main text of a Word 97+ document, read through the piece table ([MS-DOC] 2.4.1)."""
    if struct.unpack_from("<H", word, 0x02)[0] < 0x00C1:
        raise ValueError("pre-Word 97 file")
    # The FIB is a chain of variable-length arrays; walk their counts instead of trusting fixed offsets.
    pos = 0x20
    csw = struct.unpack_from("<H", word, pos)[0]
    pos += 2 + csw * 2
    cslw = struct.unpack_from("<H", word, pos)[0]
    fib_rg_lw = pos + 2
    pos = fib_rg_lw + cslw * 4
    ccp_text = struct.unpack_from("<i", word, fib_rg_lw + 3 * 4)[0]
    fc_clx, lcb_clx = struct.unpack_from("<II", word, pos + 2 + 33 * 8)  # fcClx is pair 33 of FibRgFcLcb97
    table = _ole_stream(ole, "1Table" if flags & 0x0200 else "0Table")
    clx = table[fc_clx : fc_clx + lcb_clx]

    offset = 0
    while clx[offset] == 0x01:  # Prc entries (formatting) come before the piece table
        size = struct.unpack_from("<h", clx, offset + 1)[0]
        if size < 0:  # would walk backwards forever
            raise ValueError("negative Prc size")
        offset += 3 + size
    if clx[offset] != 0x02:
        raise ValueError("no piece table")
    lcb = struct.unpack_from("<I", clx, offset + 1)[0]
    plc = clx[offset + 5 : offset + 5 + lcb]
    pieces = (lcb - 4) // 12
    cps = struct.unpack_from(f"<{pieces + 1}I", plc, 0)

    parts: list[str] = []
    size = 0
    for index in range(pieces):
        start, end = cps[index], min(cps[index + 1], ccp_text)
        if start >= end or size >= limit:
            break
        fc = struct.unpack_from("<I", plc, 4 * (pieces + 1) + 8 * index + 2)[0]
        count = end - start
        if fc & 0x40000000:  # fCompressed: one cp1252 byte per character at fc/2
            begin = (fc & 0x3FFFFFFF) // 2
            parts.append(word[begin : begin + count].decode("cp1252", "replace"))
        else:
            parts.append(word[fc : fc + 2 * count].decode("utf-16-le", "replace"))
        size += count
    return _word_visible_text("".join(parts))


def _word_visible_text(text: str) -> str:
    # Fields are BEGIN code SEPARATOR result END, and may nest: keep the result, drop the code.
    out: list[str] = []
    in_code: list[bool] = []
    for char in text:
        if char == _WORD_FIELD_BEGIN:
            in_code.append(True)
        elif char == _WORD_FIELD_SEPARATOR and in_code:
            in_code[-1] = False
        elif char == _WORD_FIELD_END and in_code:
            in_code.pop()
        elif not (in_code and in_code[-1]):
            out.append(char)
    return "".join(out).translate(_WORD_CHARS)


def _xls_text(ole: olefile.OleFileIO, sink: _TextSink, metadata: dict[str, object]) -> None:
    stream = _ole_stream(ole, "Workbook") or _ole_stream(ole, "Book")
    # FILEPASS (0x002F) follows BOF at the start of the workbook globals when the workbook is encrypted.
    pos = 0
    for _record in range(16):
        if pos + 4 > len(stream):
            break
        record_type, length = struct.unpack_from("<HH", stream, pos)
        if record_type == 0x002F:
            metadata.update(encrypted=True, password_required=True)
            return
        pos += 4 + length
    # Strings live in SST records split across CONTINUE records; runs of readable characters find them
    # without a BIFF parser, at the price of some formatting names.
    sink.add(_printable_runs(stream, sink.limit))


def _ppt_text(ole: olefile.OleFileIO, sink: _TextSink, metadata: dict[str, object]) -> None:
    if ole.exists("EncryptedSummary"):
        metadata.update(encrypted=True, password_required=True)
        return
    stream = _ole_stream(ole, "PowerPoint Document")
    # Records are (version/instance, type, length); containers (version 0xF) hold records, atoms hold data.
    # Slide text sits in TextCharsAtom (UTF-16) and TextBytesAtom (8-bit) records.
    pos = 0
    try:
        while pos + 8 <= len(stream) and not sink.full:
            version, record_type, length = struct.unpack_from("<HHI", stream, pos)
            pos += 8
            if version & 0x000F == 0x000F:
                continue
            body = stream[pos : pos + length]
            pos += length
            if record_type == 0x0FA0:
                sink.add(body.decode("utf-16-le", "replace").replace("\x0b", "\n") + "\n")
            elif record_type == 0x0FA8:
                sink.add(body.decode("cp1252", "replace").replace("\x0b", "\n") + "\n")
    except _UNREADABLE:
        sink.add(_printable_runs(stream, sink.limit))


# UTF-16LE runs of Latin-1, Latin Extended-A and basic Cyrillic characters, and 8-bit runs of printable
# cp1252 characters. Wider ranges mostly catch binary tables (00 01 00 01 reads as "ĀĀ").
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff\t\r\n]\x00|[\x00-\x7f]\x01|[\x00-\x5f]\x04){4,}")
_BYTE_RUN = re.compile(rb"[\x20-\x7e\xa0-\xff\t\r\n]{4,}")


def _printable_runs(data: bytes, limit: int) -> str:
    """Text-looking runs of at least four characters from a binary stream, one per line."""
    kept: list[str] = []
    size = 0
    for pattern, codec in ((_UTF16_RUN, "utf-16-le"), (_BYTE_RUN, "cp1252")):
        for match in pattern.finditer(data):
            run = match.group().decode(codec, "replace").strip()
            # Mostly letters and not one character repeated: words, not printable-looking binary noise.
            if len(run) < 4 or len(set(run)) < 3 or sum(c.isalpha() or c == " " for c in run) < 0.7 * len(run):
                continue
            kept.append(run)
            size += len(run) + 1
            if size >= limit:
                return "\n".join(kept)
    return "\n".join(kept)


# --- Plain text and subtitles -----------------------------------------------------------

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32", "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "utf-16"),
)
_DETECTION_SAMPLE = 64 * 1024


def _extract_text(path: Path, sink: _TextSink, label: str) -> DocumentResult:
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


# --- E-mail ------------------------------------------------------------------------------

# Malformed headers raise while being parsed, which policy.default does lazily on access.
_HEADER_ERRORS = (ValueError, TypeError, IndexError, AttributeError, LookupError)


def _extract_email(path: Path, sink: _TextSink) -> DocumentResult:
    with path.open("rb") as fh:
        message = BytesParser(policy=policy.default).parse(fh)
    metadata: dict[str, object] = {"format": "EML"}
    _set_text_fields(metadata, title=_header(message, "subject"), author=_header(message, "from"))
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
