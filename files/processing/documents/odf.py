"""OpenDocument (ODT, ODS, ODP): metadata and the text of every paragraph and heading."""

from __future__ import annotations

from xml.etree.ElementTree import Element

from files.processing.documents.common import DocumentResult, TextSink, iso_datetime, set_text_fields, small_int
from files.processing.documents.package import Package, local, xml_elements
from files.processing.errors import ProcessingError

CONTENT_TYPES = frozenset(
    {
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)

_ODF_FORMATS = {"text": "ODT", "spreadsheet": "ODS", "presentation": "ODP", "graphics": "ODG"}
# Deleted text kept for change tracking is not part of the document.
_ODF_DROP = frozenset({"tracked-changes"})
_ODF_MAX_SPACES = 100


def extract(package: Package, sink: TextSink) -> DocumentResult:
    mimetype = package.read("mimetype", 200).decode("ascii", "replace").strip() if package.has("mimetype") else ""
    family = mimetype.removeprefix("application/vnd.oasis.opendocument.").removesuffix("-template")
    metadata: dict[str, object] = {"format": _ODF_FORMATS.get(family, "ODF")}

    # An encrypted ODF package keeps its manifest readable but content.xml and meta.xml are ciphertext.
    if package.has("META-INF/manifest.xml") and any(
        xml_elements(package, "META-INF/manifest.xml", frozenset({"encryption-data"}))
    ):
        metadata.update(encrypted=True, password_required=True)
        return DocumentResult(metadata=metadata, text="", preview=None)
    if package.has("meta.xml"):
        metadata.update(_odf_meta(package))
    if not package.has("content.xml"):
        raise ProcessingError("corrupt_document", "The OpenDocument package has no content.xml.")
    for block in xml_elements(package, "content.xml", frozenset({"p", "h"}), drop=_ODF_DROP):
        sink.add(_odf_block_text(block) + "\n")
        if sink.full:
            break
    return DocumentResult(metadata=metadata, text=sink.text(), preview=None)


def _odf_meta(package: Package) -> dict[str, object]:
    wanted = frozenset({"title", "subject", "initial-creator", "creator", "creation-date", "document-statistic"})
    found: dict[str, str] = {}
    page_count = None
    for elem in xml_elements(package, "meta.xml", wanted):
        name = local(elem.tag)
        if name == "document-statistic":
            page_count = small_int(next((v for key, v in elem.attrib.items() if local(key) == "page-count"), None))
        else:
            found.setdefault(name, elem.text or "")
    metadata: dict[str, object] = {}
    # dc:creator is whoever saved last; meta:initial-creator is the author.
    author = found.get("initial-creator") or found.get("creator")
    set_text_fields(metadata, title=found.get("title"), author=author, subject=found.get("subject"))
    if created := iso_datetime(found.get("creation-date")):
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
        name = local(item.tag)
        if name == "s":
            count = small_int(next((value for key, value in item.attrib.items() if local(key) == "c"), None))
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
