from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from files.processing.documents import DocumentResult, extract_document
from files.processing.errors import ProcessingError
from files.services.processing import processing_limits
from tests.helpers import CORPUS

MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())


def _is_document(entry: dict) -> bool:
    expected = entry["expected"]
    return entry["category"] in {"document_pdf", "document_office", "text"} or "pdf" in expected or "office" in expected


DOCUMENTS = [pytest.param(entry, id=entry["file"]) for entry in MANIFEST if _is_document(entry)]

# windows-1252 decodes every printable ISO-8859-1 character the same way and is what we report for both.
COMPATIBLE_CHARSETS = {"iso-8859-1": {"iso-8859-1", "windows-1252"}}
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX_TYPE = "application/vnd.openxmlformats-officedocument.presentationml.presentation"


def normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def assert_readable(error: ProcessingError) -> None:
    assert error.code
    assert error.message[:1].isupper() and error.message.endswith("."), error.message
    assert "Traceback" not in error.message and len(error.message) < 300


def test_selection_includes_broken_and_hostile_documents():
    rejected = [param.values[0]["expected"] for param in DOCUMENTS if param.values[0]["expected"]["should_reject"]]
    assert any("pdf" in expected for expected in rejected)
    assert any("office" in expected for expected in rejected)


@pytest.mark.parametrize("entry", DOCUMENTS)
def test_extract_document_finds_what_the_manifest_expects(entry):
    expected = entry["expected"]
    path = CORPUS / entry["file"]

    if expected["should_reject"]:
        with pytest.raises(ProcessingError) as excinfo:
            extract_document(path, expected["mime"], processing_limits())
        assert_readable(excinfo.value)
        return

    result = extract_document(path, expected["mime"], processing_limits())
    assert isinstance(result, DocumentResult)
    locked = expected.get("pdf", {}).get("opens_without_password") is False
    if locked:
        # Decision: a PDF that needs a password is stored as a valid file, flagged, with nothing extracted.
        assert result.metadata["encrypted"] is True and result.metadata["password_required"] is True
        assert result.text == "" and result.preview is None
        return
    if phrase := expected.get("search_phrase"):
        assert normalised(phrase) in normalised(result.text)
    if "pdf" in expected:
        check_pdf(result, expected["pdf"])
    if "office" in expected:
        check_office(result, expected["office"])
    if "text" in expected:
        check_text(result, expected["text"])


def check_pdf(result: DocumentResult, pdf: dict) -> None:
    metadata = result.metadata
    assert metadata["format"] == "PDF"
    assert metadata["page_count"] == pdf["pages"]
    assert metadata["encrypted"] is pdf["encrypted"]
    for key in ("title", "author"):
        assert metadata.get(key) == pdf[key]
    assert metadata.get("attachment_count", 0) == len(pdf["embedded_files"])
    if not pdf["has_text_layer"]:
        assert result.text == ""
    assert result.preview is not None and result.preview.mode == "RGB"
    assert abs(max(result.preview.size) - 1600) <= 1


def check_office(result: DocumentResult, office: dict) -> None:
    metadata = result.metadata
    assert metadata["format"] == office["kind"].split()[0].upper()
    # A missing property stays missing: no "Word Document" or "openpyxl" defaults invented by libraries.
    for key in ("title", "author"):
        if key in office:
            assert metadata.get(key) == office[key]
    if "sheets" in office:
        assert metadata["sheets"] == office["sheets"]
    if "slides" in office:
        assert metadata["page_count"] == office["slides"]
    if "contains_vba_macros" in office:
        assert metadata.get("has_macros", False) is office["contains_vba_macros"]
    assert result.preview is None


def check_text(result: DocumentResult, text: dict) -> None:
    metadata = result.metadata
    if "email_subject" in text:
        assert metadata["title"] == text["email_subject"]
        assert metadata["author"] == text["email_from"]
        assert metadata["created"].startswith("2022-10-12T21:40:43")
        return
    assert metadata["charset"] in COMPATIBLE_CHARSETS.get(text["encoding"], {text["encoding"]})
    if "csv_header" in text:
        lines = result.text.splitlines()
        assert lines[0].split(",") == text["csv_header"]
        assert len(lines) == text["csv_data_rows"] + 1


def test_pdf_dates_become_iso_8601():
    result = extract_document(CORPUS / "document_pdf/metadata.pdf", "application/pdf", processing_limits())
    assert result.metadata["created"] == "2022-04-15T09:32:43+02:00"
    assert result.metadata["subject"] == "The Subject"


def test_office_core_properties_are_read_through_the_package_relationships():
    # bug304.xlsx keeps its core properties in an old-style .psmdcp part, not docProps/core.xml.
    result = extract_document(
        CORPUS / "document_office/bug304.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        processing_limits(),
    )
    assert result.metadata["created"] == "2014-04-15T14:26:23+00:00"


def test_subtitles_keep_dialogue_only():
    result = extract_document(CORPUS / "text/utf16le_bom_subtitles.srt", "application/x-subrip", processing_limits())
    lines = [line for line in result.text.splitlines() if line.strip()]
    assert lines[0] == "About 2 months ago I found myself on"
    assert not any("-->" in line or line.strip().isdigit() for line in lines)


def test_webvtt_drops_header_notes_cue_ids_and_markup(tmp_path):
    path = tmp_path / "talk.vtt"
    path.write_text(
        "WEBVTT - demo\n\nNOTE written by hand\nfor the test\n\n"
        "intro\n00:01.000 --> 00:04.000 align:start\n<v Ann><i>Hello</i> there\n\n"
        "2\n00:00:05.000 --> 00:00:07.500\nGeneral Kenobi\n",
        encoding="utf-8",
    )
    result = extract_document(path, "text/vtt", processing_limits())
    assert result.text.split() == ["Hello", "there", "General", "Kenobi"]


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("document_pdf/GeoBase_NHNC1_Data_Model_UML_EN.pdf", "application/pdf"),
        ("document_office/bug304.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        ("document_office/sample.doc", "application/msword"),
        ("text/countries.csv", "text/csv"),
        ("text/utf16le_bom_subtitles.srt", "application/x-subrip"),
        ("text/simple_text.eml", "message/rfc822"),
    ],
)
def test_text_is_cut_to_the_configured_limit(settings, name, content_type):
    settings.PROCESSING_MAX_TEXT_CHARS = 20
    result = extract_document(CORPUS / name, content_type, processing_limits())
    assert 0 < len(result.text) <= 20


def test_empty_text_file_is_not_a_failure(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = extract_document(path, "text/plain", processing_limits())
    assert result.text == "" and result.preview is None


def test_unsupported_types_are_refused():
    png = next(CORPUS / e["file"] for e in MANIFEST if e["expected"]["mime"] == "image/png")
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(png, "image/png", processing_limits())
    assert excinfo.value.code == "unsupported_document"
    assert_readable(excinfo.value)


# --- Built packages: bombs and hostile XML ------------------------------------------------

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Override PartName="/word/document.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    '<Override PartName="/ppt/presentation.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/>'
    "</Types>"
)
RELS_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CORE_PROPERTIES_REL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties"
CORE_NS = "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"


def relationships(*targets: tuple[str, str, str]) -> str:
    """A .rels part; a short relationship kind means the officeDocument namespace."""
    rels = []
    for rid, kind, target in targets:
        rel_type = kind if "://" in kind else f"{OFFICE_REL}/{kind}"
        rels.append(f'<Relationship Id="{rid}" Type="{rel_type}" Target="{target}"/>')
    return f'<Relationships xmlns="{RELS_NS}">{"".join(rels)}</Relationships>'


def docx_parts(body: str) -> dict[str, str]:
    return {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": relationships(("rId1", "officeDocument", "word/document.xml")),
        "word/document.xml": f'<w:document xmlns:w="{W_NS}" xmlns:mc="{MC_NS}"><w:body>{body}</w:body></w:document>',
    }


def paragraph(text: str) -> str:
    return f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"


def write_package(path: Path, parts: dict[str, str | bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def test_highly_compressible_member_is_an_archive_bomb(tmp_path):
    path = tmp_path / "bomb.docx"
    parts = docx_parts("")
    del parts["word/document.xml"]
    write_package(path, parts)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        # 64 MiB of spaces deflates to about 64 KiB: a 1000:1 member, far past the 100:1 warning line.
        with archive.open("word/document.xml", "w") as member:
            member.write(f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>'.encode())
            for _ in range(64):
                member.write(b" " * 1024**2)
            member.write(b"</w:t></w:r></w:p></w:body></w:document>")
    assert path.stat().st_size < 1024**2

    with pytest.raises(ProcessingError) as excinfo:
        extract_document(path, DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "archive_bomb"
    assert "word/document.xml" in excinfo.value.message
    assert_readable(excinfo.value)


def test_part_larger_than_the_budget_is_refused_before_reading(settings):
    settings.PROCESSING_MAX_UNZIPPED_BYTES = 1024
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(CORPUS / "document_office/sample.docx", DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "archive_bomb"
    assert_readable(excinfo.value)


def test_budget_counts_all_parts_read(settings, tmp_path):
    # The core properties and the body are each about 50 KB and each fit an 80 KB budget; together they do not.
    words = " ".join(f"word{i}" for i in range(6000))
    parts = docx_parts(paragraph(words))
    parts["_rels/.rels"] = relationships(
        ("rId1", "officeDocument", "word/document.xml"), ("rId2", CORE_PROPERTIES_REL, "docProps/core.xml")
    )
    parts["docProps/core.xml"] = (
        f'<cp:coreProperties xmlns:cp="{CORE_NS}" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>Halves</dc:title><dc:description>{words}</dc:description></cp:coreProperties>"
    )
    path = write_package(tmp_path / "two-halves.docx", parts)
    settings.PROCESSING_MAX_UNZIPPED_BYTES = 150_000
    result = extract_document(path, DOCX_TYPE, processing_limits())
    assert result.metadata["title"] == "Halves"
    assert result.text.startswith("word0 word1")

    settings.PROCESSING_MAX_UNZIPPED_BYTES = 80_000
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(path, DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "archive_bomb"


def test_bzip2_member_is_refused(tmp_path):
    # zipfile inflates bzip2 without an output limit per read, and no office writer uses it.
    path = write_package(tmp_path / "bz.docx", docx_parts(paragraph("hello")), compression=zipfile.ZIP_BZIP2)
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(path, DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "corrupt_document"
    assert_readable(excinfo.value)


def test_xml_entity_expansion_is_refused(tmp_path):
    laughs = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    parts = docx_parts("")
    parts["word/document.xml"] = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY l0 "lol">{laughs}]>'
        f'<w:document xmlns:w="{W_NS}"><w:body><w:p><w:r><w:t>&l9;</w:t></w:r></w:p></w:body></w:document>'
    )
    path = write_package(tmp_path / "laughs.docx", parts)
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(path, DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "corrupt_document"
    assert_readable(excinfo.value)


def test_corrupt_zip_is_a_corrupt_document(tmp_path):
    source = (CORPUS / "document_office/sample.docx").read_bytes()
    path = tmp_path / "truncated.docx"
    path.write_bytes(source[: len(source) // 2])
    with pytest.raises(ProcessingError) as excinfo:
        extract_document(path, DOCX_TYPE, processing_limits())
    assert excinfo.value.code == "corrupt_document"
    assert_readable(excinfo.value)


def test_docx_reads_table_cells_and_skips_fallback_copies(tmp_path):
    table = f"<w:tbl><w:tr><w:tc>{paragraph('cell one')}</w:tc><w:tc>{paragraph('cell two')}</w:tc></w:tr></w:tbl>"
    # Word writes a text box twice: once for new readers (Choice) and once for old ones (Fallback).
    text_box = (
        "<w:p><w:r><mc:AlternateContent>"
        f"<mc:Choice><w:drawing><w:txbxContent>{paragraph('boxed words')}</w:txbxContent></w:drawing></mc:Choice>"
        f"<mc:Fallback><w:pict><w:txbxContent>{paragraph('boxed words')}</w:txbxContent></w:pict></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
    )
    tab_stops = (
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr><w:r><w:t>after</w:t></w:r></w:p>'
    )
    path = write_package(tmp_path / "table.docx", docx_parts(paragraph("Intro") + table + text_box + tab_stops))

    text = extract_document(path, DOCX_TYPE, processing_limits()).text
    assert "cell one" in text and "cell two" in text
    assert text.count("boxed words") == 1
    assert "\nafter" in text  # tab-stop definitions are not tabs in the text


def test_pptx_slides_follow_the_presentation_order(tmp_path):
    p_ns = "http://schemas.openxmlformats.org/presentationml/2006/main"
    a_ns = "http://schemas.openxmlformats.org/drawingml/2006/main"

    def slide(text: str) -> str:
        return (
            f'<p:sld xmlns:p="{p_ns}" xmlns:a="{a_ns}"><p:cSld><p:spTree><p:sp><p:txBody>'
            f"<a:p><a:r><a:t>{text}</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>"
        )

    parts = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": relationships(("rId1", "officeDocument", "ppt/presentation.xml")),
        "ppt/presentation.xml": (
            f'<p:presentation xmlns:p="{p_ns}" xmlns:r="{OFFICE_REL}"><p:sldIdLst>'
            '<p:sldId id="256" r:id="rId7"/><p:sldId id="257" r:id="rId3"/></p:sldIdLst></p:presentation>'
        ),
        "ppt/_rels/presentation.xml.rels": relationships(
            ("rId3", "slide", "slides/slide2.xml"), ("rId7", "slide", "slides/slide10.xml")
        ),
        "ppt/slides/slide2.xml": slide("second"),
        "ppt/slides/slide10.xml": slide("first"),
    }
    path = write_package(tmp_path / "order.pptx", parts)

    result = extract_document(path, PPTX_TYPE, processing_limits())
    assert result.text.split() == ["first", "second"]
    assert result.metadata["page_count"] == 2
