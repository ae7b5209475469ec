"""Office Open XML (DOCX, XLSX/XLSM, PPTX): core properties and text, streamed part by part."""

from __future__ import annotations

import posixpath
from xml.etree.ElementTree import Element

from files.processing.documents.common import (
    DocumentResult,
    TextSink,
    clean,
    iso_datetime,
    set_text_fields,
    small_int,
)
from files.processing.documents.package import Package, local, xml_elements
from files.processing.errors import ProcessingError

CONTENT_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.ms-word.document.macroenabled.12",
        "application/vnd.ms-excel.sheet.macroenabled.12",
        "application/vnd.ms-powerpoint.presentation.macroenabled.12",
    }
)

_OOXML_DEFAULT_MAIN = ("word/document.xml", "xl/workbook.xml", "ppt/presentation.xml")
_OOXML_FORMATS = {"wordprocessingml": "DOCX", "spreadsheetml": "XLSX", "presentationml": "PPTX"}
_OOXML_DIRECTORIES = {"word": "wordprocessingml", "xl": "spreadsheetml", "ppt": "presentationml"}


def extract(package: Package, sink: TextSink) -> DocumentResult:
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


def _ooxml_content_types(package: Package) -> dict[str, str]:
    return {
        override.get("PartName", "").lstrip("/").lower(): override.get("ContentType", "")
        for override in xml_elements(package, "[Content_Types].xml", frozenset({"Override"}))
    }


def _relationships(package: Package, part: str) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type's last segment, target part name) for `part` ("" for the package)."""
    directory, filename = posixpath.split(part)
    rels_name = posixpath.join(directory, "_rels", f"{filename}.rels")
    if not package.has(rels_name):
        return {}
    relationships = {}
    for rel in xml_elements(package, rels_name, frozenset({"Relationship"})):
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


def _core_properties(package: Package, part: str) -> dict[str, object]:
    found: dict[str, str] = {}
    for elem in xml_elements(package, part, frozenset({"title", "creator", "subject", "created"})):
        found.setdefault(local(elem.tag), elem.text or "")
    metadata: dict[str, object] = {}
    set_text_fields(metadata, title=found.get("title"), author=found.get("creator"), subject=found.get("subject"))
    if created := iso_datetime(found.get("created")):
        metadata["created"] = created
    return metadata


def _app_properties(package: Package, part: str) -> dict[str, object]:
    # Word stores the page count it last laid out; nothing else can count pages without rendering.
    for pages in xml_elements(package, part, frozenset({"Pages"})):
        if count := small_int(pages.text):
            return {"page_count": count}
    return {}


# Inside mc:AlternateContent, mc:Fallback repeats mc:Choice for older readers; reading both doubles text.
_OOXML_DROP = frozenset({"Fallback"})


def _docx_text(package: Package, main: str, sink: TextSink) -> None:
    # Table cells hold paragraphs too, so every w:p of the body is read, in document order.
    for paragraph in xml_elements(package, main, frozenset({"p"}), drop=_OOXML_DROP):
        pieces = []
        for run in paragraph.iter():
            if local(run.tag) != "r":
                continue
            for child in run:
                name = local(child.tag)
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


def _xlsx_text(package: Package, workbook: str, sink: TextSink, metadata: dict[str, object]) -> None:
    rels = _relationships(package, workbook)
    shared_part = _target(rels, "sharedStrings")
    shared = _shared_strings(package, shared_part, sink.limit) if shared_part and package.has(shared_part) else []
    sheets = [
        (sheet.get("name", ""), rels.get(_rel_id(sheet) or "", ("", ""))[1])
        for sheet in xml_elements(package, workbook, frozenset({"sheet"}))
    ]
    if names := [cleaned for name, _part in sheets[:100] if (cleaned := clean(name))]:
        metadata["sheets"] = names
    for name, part in sheets:
        if sink.full:
            return
        if not part or not package.has(part):
            continue
        sink.add(f"{name}\n")
        for row in xml_elements(package, part, frozenset({"row"})):
            values = [value for cell in row if local(cell.tag) == "c" and (value := _cell_value(cell, shared))]
            if values:
                sink.add("\t".join(values) + "\n")
            if sink.full:
                return
        sink.add("\n")


def _shared_strings(package: Package, part: str, limit: int) -> list[str]:
    # Kept only up to the text bound, because the table can hold millions of strings. Excel numbers them
    # in order of first use, so the first rows (the ones that fit in the bound) point at the first strings;
    # a cell pointing past what was kept reads as empty.
    strings: list[str] = []
    size = 0
    for item in xml_elements(package, part, frozenset({"si"})):
        strings.append(_rich_text(item))
        size += max(len(strings[-1]), 1)
        if size >= limit:
            break
    return strings


def _rich_text(elem: Element) -> str:
    # Direct t and r/t children only: rPh holds phonetic readings (furigana) that would duplicate text.
    parts = []
    for child in elem:
        name = local(child.tag)
        if name == "t":
            parts.append(child.text or "")
        elif name == "r":
            parts.extend(t.text or "" for t in child if local(t.tag) == "t")
    return "".join(parts)


def _cell_value(cell: Element, shared: list[str]) -> str:
    kind = cell.get("t", "n")
    if kind == "inlineStr":
        return next((_rich_text(child) for child in cell if local(child.tag) == "is"), "")
    value = next((child.text for child in cell if local(child.tag) == "v"), None)
    if value is None or kind == "e":
        return ""
    if kind == "s":
        index = small_int(value)
        return shared[index] if index is not None and index < len(shared) else ""
    if kind == "b":
        return "TRUE" if value.strip() == "1" else "FALSE"
    return value  # numbers and formula results as stored; dates stay serial numbers


def _pptx_text(package: Package, presentation: str, sink: TextSink, metadata: dict[str, object]) -> None:
    rels = _relationships(package, presentation)
    # Slide order is the order of sldIdLst, not of the part names (slide10.xml sorts before slide2.xml).
    slide_ids = [_rel_id(slide) for slide in xml_elements(package, presentation, frozenset({"sldId"}))]
    slides = [rels[rel_id][1] for rel_id in slide_ids if rel_id in rels]
    metadata["page_count"] = len(slides)
    for slide in slides:
        if sink.full:
            return
        if not package.has(slide):
            continue
        for paragraph in xml_elements(package, slide, frozenset({"p"}), drop=_OOXML_DROP):
            pieces = []
            for child in paragraph:
                name = local(child.tag)
                if name in ("r", "fld"):
                    pieces.extend(t.text or "" for t in child if local(t.tag) == "t")
                elif name == "br":
                    pieces.append("\n")
            sink.add("".join(pieces) + "\n")
        sink.add("\n")
