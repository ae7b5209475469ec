"""Office files and the types that say nothing: the file's own signature decides.

A declared office type still goes by the bytes (a password-protected DOCX is an OLE2 file).
When libmagic only says `application/octet-stream`, `application/zip`, an OLE2 container or
"empty", the signature decides too: libmagic misses PDFs with junk before `%PDF-` (which PDF
readers accept) and DOCX packages whose ZIP members are in an unusual order.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import olefile

from files.processing.documents import odf, ole, ooxml, pdf
from files.processing.documents.common import DocumentResult, TextSink
from files.processing.documents.package import Package
from files.processing.errors import ProcessingError
from files.processing.limits import Limits

# What libmagic says when it cannot tell.
GENERIC_TYPES = frozenset(
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


def extract(path: Path, sink: TextSink, limits: Limits, *, declared_office: bool) -> DocumentResult:
    with path.open("rb") as fh:
        head = fh.read(1024)
    if head.startswith(olefile.MAGIC):
        return ole.extract(path, sink, declared_office=declared_office)
    # A declared office type goes to zipfile even without a signature at byte 0: it finds archives that
    # have a prefix (self-extractors) and gives a precise error for everything else.
    if declared_office or head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _extract_zip_package(path, sink, limits, declared_office=declared_office)
    # PDF readers accept up to 1 KiB of junk before the header; libmagic does not.
    if b"%PDF-" in head:
        return pdf.extract(path, sink, limits)
    raise ProcessingError("unsupported_document", "The file is not a PDF, Office, OpenDocument or text document.")


def _extract_zip_package(path: Path, sink: TextSink, limits: Limits, *, declared_office: bool) -> DocumentResult:
    try:
        archive = zipfile.ZipFile(path)
    # A damaged central directory can claim a "ZIP version" zipfile refuses with NotImplementedError.
    except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
        raise ProcessingError(
            "corrupt_document",
            "The file is neither a readable ZIP package nor an OLE2 compound file, so it is not an Office document.",
        ) from exc
    with archive:
        package = Package(archive, limits.max_unzipped_bytes, max_elements=limits.max_xml_elements)
        if package.has("[Content_Types].xml"):
            return ooxml.extract(package, sink)
        if package.has("mimetype") or (package.has("content.xml") and package.has("META-INF/manifest.xml")):
            return odf.extract(package, sink)
    if declared_office:
        raise ProcessingError(
            "corrupt_document",
            "The ZIP package has neither [Content_Types].xml (Office Open XML) nor a mimetype member "
            "(OpenDocument), so it is not an office document.",
        )
    raise ProcessingError("unsupported_document", "The file is a ZIP archive, not an Office or OpenDocument file.")
