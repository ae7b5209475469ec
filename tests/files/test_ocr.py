"""OCR: text rendered by the test (PNG, JPEG, an image-only PDF) and the corpus scans are read,
stored per page, searched (marked as OCR, highlighted) and served by `files/{id}/ocr/`."""

from __future__ import annotations

import io

import pypdfium2 as pdfium
import pytest
import requests
from django.test import Client
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from accounts.models import Role
from files.models import File, OcrPage
from files.processing import ocr
from files.services.processing import processing_limits
from files.services.processing_run import file_process
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.files.test_portal_file_page import someone
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = [
    "Invoice 2041 from Nordwind Logistics GmbH",
    "Total amount due: 1,284.50 EUR by 31 March",
    "The quick brown fox jumps over the lazy dog.",
    "Zebra crossings near the Quayside warehouse",
]
KNOWN = "\n".join(LINES)


def levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def accuracy(found: str, known: str) -> float:
    """Character accuracy: 1 - edit distance / length, over the lines' words (spacing aside)."""
    found, known = " ".join(found.split()), " ".join(known.split())
    return max(0.0, 1 - levenshtein(found, known) / len(known))


def rendered(lines=LINES, *, size=28, scan=False) -> Image.Image:
    """The lines in DejaVu Sans, black on white; `scan` makes it look scanned (grey, blurred, tilted)."""
    font = ImageFont.truetype(FONT, size)
    picture = Image.new("RGB", (1240, 140 + len(lines) * size * 2), "white")
    draw = ImageDraw.Draw(picture)
    for index, line in enumerate(lines):
        draw.text((70, 70 + index * size * 2), line, fill=(20, 20, 20), font=font)
    if scan:
        picture = picture.rotate(0.6, fillcolor="white", resample=Image.Resampling.BICUBIC)
        picture = picture.filter(ImageFilter.GaussianBlur(0.6)).point(lambda value: min(255, value + 12))
    return picture


def encoded(picture: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def processed(client, tenant, name: str, data: bytes) -> dict:
    response = upload(client, tenant, name, data)
    assert response.status_code == 201, response.content
    file_id = response.json()["id"]
    assert file_process(file_id=file_id) == "completed"
    return client.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()


def ocr_of(client, tenant, file_id: str, **params) -> dict:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/ocr/", params)
    assert response.status_code == 200, response.content
    return response.json()


def search(client, tenant, q: str) -> list[dict]:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/search/", {"q": q})
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- The library -------------------------------------------------------------------------------


def test_library_reads_a_rendered_picture_with_boxes():
    result = ocr.ocr_picture(encoded(rendered(), "PNG"), limits=processing_limits())
    score = accuracy(result.text, KNOWN)
    print(f"character accuracy, rendered PNG (library): {score:.2%}")
    assert score >= 0.95
    (page,) = result.pages
    assert page.recognised and result.engine.startswith("rapidocr 3.10")
    first = page.lines[0]
    assert first["text"] == LINES[0]
    assert 0.9 <= first["confidence"] <= 1
    assert all(0 <= x <= 1 and 0 <= y <= 1 for x, y in first["box"])
    # Boxes in reading order, and words boxed inside their line.
    tops = [min(y for _x, y in line["box"]) for line in page.lines]
    assert tops == sorted(tops)
    assert [word["text"] for word in first["words"]][:2] == ["Invoice", "2041"]
    left, top, right, bottom = first["words"][0]["box"]
    assert 0 < left < right < 0.2 and top < bottom


def test_library_skips_recognition_when_the_first_detection_finds_no_text(monkeypatch):
    sky = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    engine = ocr._engine_get(processing_limits())
    calls = []
    monkeypatch.setattr(type(engine), "recognize_txt", lambda self, *a: calls.append(a))
    result = ocr.ocr_picture(sky, gate=sky.resize((800, 600)), limits=processing_limits())
    assert result.recognition_skipped and result.text == "" and calls == []
    assert set(result.timings) == {"detect"}


def test_library_stops_at_the_page_limit(tmp_path):
    path = tmp_path / "scan.pdf"
    pages = [rendered([f"Page {n} of the bounded scan"]) for n in range(1, 4)]
    pages[0].save(path, "PDF", resolution=150, save_all=True, append_images=pages[1:])
    limits = processing_limits()
    result = ocr.ocr_pdf_pages(path, pages=[0, 1, 2], limits=type(limits)(**{**vars(limits), "ocr_max_pages": 2}))
    assert [page.number for page in result.pages] == [1, 2] and result.stopped == "page_limit"
    assert "Page 2 of the bounded scan" in result.text


# --- Through the pipeline ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("invoice.png", lambda: encoded(rendered(), "PNG")),
        ("invoice.jpg", lambda: encoded(rendered(scan=True), "JPEG", quality=80)),
    ],
)
def test_picture_text_is_read_stored_and_searchable(editor, tenant, name, data):
    body = processed(editor, tenant, name, data())
    assert body["ocr"]["pages"] == 1 and body["ocr"]["text_length"] > 100
    assert body["ocr"]["confidence"] > 0.9 and body["ocr"]["recognition_skipped"] is False
    pages = ocr_of(editor, tenant, body["id"])
    assert pages["page_count"] == 1 and pages["next"] is None and pages["version"] == 1
    score = accuracy(pages["results"][0]["text"], KNOWN)
    print(f"character accuracy, {name} through the API: {score:.2%}")
    assert score >= 0.95
    line = pages["results"][0]["lines"][0]
    assert set(line) == {"text", "confidence", "box", "words"}

    (hit,) = search(editor, tenant, "Nordwind")
    assert hit["file"]["id"] == body["id"]
    assert hit["matched_in"] == ["ocr"]
    assert "<mark>Nordwind</mark>" in hit["highlight"]


def test_scanned_pdf_is_read_page_by_page(editor, tenant):
    first = rendered(LINES[:2], scan=True)
    second = rendered(LINES[2:], scan=True)
    out = io.BytesIO()
    first.save(out, "PDF", resolution=150, save_all=True, append_images=[second])
    body = processed(editor, tenant, "scan.pdf", out.getvalue())
    assert body["metadata"]["page_count"] == 2
    assert body["ocr"]["pages"] == 2
    pages = ocr_of(editor, tenant, body["id"])["results"]
    assert [page["number"] for page in pages] == [1, 2]
    score = accuracy("\n".join(page["text"] for page in pages), KNOWN)
    print(f"character accuracy, image-only PDF (2 pages): {score:.2%}")
    assert score >= 0.95
    (hit,) = search(editor, tenant, "quayside warehouse")
    assert hit["file"]["id"] == body["id"] and "ocr" in hit["matched_in"]
    assert "<mark>" in hit["highlight"]
    # The searchable copy: the scan with the recognised text as a layer a PDF reader finds.
    copy = requests.get(ocr_of(editor, tenant, body["id"])["searchable_pdf"], timeout=10)
    assert copy.status_code == 200 and copy.content.startswith(b"%PDF")
    layer = pdfium.PdfDocument(copy.content)
    try:
        texts = [page.get_textpage().get_text_bounded() for page in layer]
    finally:
        layer.close()
    assert accuracy("\n".join(texts), KNOWN) >= 0.95
    assert "Nordwind Logistics" in texts[0] and "Quayside warehouse" in texts[1]


def test_a_pdf_with_a_text_layer_is_not_read_again(editor, tenant):
    body = processed(editor, tenant, "crazyones.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes())
    assert body["ocr"] is None
    assert not OcrPage.objects.filter(version__file_id=body["id"]).exists()
    assert ocr_of(editor, tenant, body["id"])["searchable_pdf"] is None


@pytest.mark.parametrize(
    ("path", "words", "expected"),
    [
        ("document_pdf/multi-page-images.pdf", "multi page document", "This is a multi page document. Page 3."),
        ("large_dimension/pport_g4.tif", "naturalization certificate", "Certificate of Naturalization"),
    ],
)
def test_corpus_scans_are_found_by_their_words(editor, tenant, path, words, expected):
    body = processed(editor, tenant, path.split("/")[-1], (CORPUS / path).read_bytes())
    text = "\n".join(page["text"] for page in ocr_of(editor, tenant, body["id"])["results"])
    assert expected.lower() in text.lower()
    hits = search(editor, tenant, words)
    assert [hit["file"]["id"] for hit in hits] == [body["id"]]
    assert hits[0]["matched_in"] == ["ocr"] and "<mark>" in hits[0]["highlight"]


def test_a_photo_without_text_is_fast_pathed(editor, tenant):
    sky = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    body = processed(editor, tenant, "sky.jpg", encoded(sky, "JPEG", quality=90))
    assert body["ocr"]["recognition_skipped"] is True
    assert body["ocr"]["pages"] == 0 and body["ocr"]["text_length"] == 0
    assert File.objects.get(pk=body["id"]).ocr_text == ""
    assert ocr_of(editor, tenant, body["id"])["results"] == []


def test_reprocessing_redoes_ocr_and_the_tenant_can_turn_it_off(editor, owner, tenant):
    body = processed(editor, tenant, "invoice.png", encoded(rendered(), "PNG"))
    assert body["ocr"]["pages"] == 1
    response = owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"ocr_enabled": False}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["ocr_enabled"] is False
    assert file_process(file_id=body["id"], force=True) == "completed"
    again = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{body['id']}/").json()
    assert again["ocr"] is None
    assert not OcrPage.objects.filter(version__file_id=body["id"]).exists()
    assert search(editor, tenant, "Nordwind") == []


def test_an_unavailable_engine_never_fails_the_file(editor, tenant, monkeypatch):
    def unavailable(*args, **kwargs):
        raise ocr.OcrUnavailable("no models here")

    monkeypatch.setattr(ocr, "_engine_get", unavailable)
    body = processed(editor, tenant, "invoice.png", encoded(rendered(), "PNG"))
    assert body["status"] == "completed" and body["ocr"] is None
    assert body["metadata"]["ocr_unavailable"] == "OCR unavailable: no models here"


def test_ocr_pages_come_ten_at_a_time(editor, tenant):
    body = processed(editor, tenant, "blank.png", encoded(Image.new("RGB", (64, 64), "white"), "PNG"))
    file = File.objects.select_related("current_version").get(pk=body["id"])
    OcrPage.objects.bulk_create(
        OcrPage(
            tenant=tenant, version=file.current_version, number=n, width=10, height=10, text=f"page {n}", engine="t"
        )
        for n in range(1, 13)
    )
    first = ocr_of(editor, tenant, body["id"])
    assert [page["number"] for page in first["results"]] == list(range(1, 11)) and first["page_count"] == 12
    rest = editor.get(first["next"]).json()
    assert [page["number"] for page in rest["results"]] == [11, 12] and rest["next"] is None
    bad = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{body['id']}/ocr/", {"after": "-1"})
    assert bad.status_code == 400


# --- The portal ---------------------------------------------------------------------------------


def test_file_page_panel_marks_the_searched_words_escaped_and_boxed(tenant):
    who = someone(tenant)
    editor = who.api
    body = processed(editor, tenant, "note.png", encoded(Image.new("RGB", (64, 64), "white"), "PNG"))
    file = File.objects.select_related("current_version").get(pk=body["id"])
    line = {
        "text": "<script>alert(1)</script> Warehouses & Nordwind",
        "confidence": 0.97,
        "box": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.2], [0.1, 0.2]],
        "words": [
            {"text": "Warehouses", "box": [0.5, 0.1, 0.7, 0.2]},
            {"text": "Nordwind", "box": [0.75, 0.1, 0.9, 0.2]},
        ],
    }
    File.objects.filter(pk=file.pk).update(metadata={**file.metadata, "ocr": {"pages": 1, "confidence": 0.97}})
    OcrPage.objects.create(
        tenant=tenant,
        version=file.current_version,
        number=1,
        width=1000,
        height=500,
        text=line["text"],
        lines=[line],
        engine="t",
    )
    # The page loads the panel (and the overlay) with the query, from its own URL.
    page = who.web.get(f"/t/{tenant.slug}/files/{file.pk}/", {"q": "warehouse -nordwind"}).content.decode()
    assert f'hx-get="/t/{tenant.slug}/files/{file.pk}/ocr/?q=warehouse%20-nordwind"' in page
    assert '<div id="ocr-overlay" class="ocr-overlay"></div>' in page
    panel = who.web.get(f"/t/{tenant.slug}/files/{file.pk}/ocr/", {"q": "warehouse -nordwind"}).content.decode()
    assert "Text in the image" in panel
    assert "&lt;script&gt;alert(1)&lt;/script&gt; <mark>Warehouses</mark> &amp; Nordwind" in panel
    assert "<script>alert" not in panel
    assert panel.count('class="ocr-match"') == 1
    assert '<rect class="ocr-match" x="500.0" y="50.0" width="200.0" height="50.0">' in panel
    assert 'id="ocr-overlay" class="ocr-overlay" hx-swap-oob="true"' in panel
    assert "1 line with “warehouse -nordwind”" in panel
    # Without a query the text is there, nothing marked.
    plain = who.web.get(f"/t/{tenant.slug}/files/{file.pk}/ocr/").content.decode()
    assert "<mark>" not in plain and 'class="ocr-match"' not in plain and "Warehouses &amp; Nordwind" in plain
    # Another team's member gets nothing.
    stranger = Client()
    stranger.force_login(MembershipFactory(role=Role.OWNER).user)
    assert stranger.get(f"/t/{tenant.slug}/files/{file.pk}/ocr/").status_code in (403, 404)


def test_a_page_without_ocr_text_loads_no_panel(tenant):
    who = someone(tenant)
    body = processed(who.api, tenant, "blank.png", encoded(Image.new("RGB", (64, 64), "white"), "PNG"))
    page = who.web.get(f"/t/{tenant.slug}/files/{body['id']}/").content.decode()
    assert "ocr-overlay" not in page and "/ocr/" not in page
