from __future__ import annotations

import codecs
import io
import shutil

import pytest
from django.core.management import call_command

from files.models import File, Folder
from files.processing import sniff as sniff_module
from files.services.processing import upload_sniff
from mediaportal.exceptions import UnsupportedMediaType
from tests.files.conftest import tenant_objects, upload
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "vacation.jpg"),
        (b"MZ\x90\x00" + b"\x00" * 100, "report.pdf"),
        (b"#!/bin/sh\nrm -rf /\n", "notes.txt"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "page.txt"),
        (b"<?php echo 1; ?>", "x.txt"),
        (b"plain words", "run.js"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://evil.example/x.png"/></svg>', "x.svg"),
        (b'<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "aaaa">]><svg>&a;</svg>', "x.svg"),
        (b"PK\x03\x04" + b"\x00" * 30, "archive.zip"),
        (b"\x00\x01\x02\x03" * 100, "blob.bin"),
    ],
)
def test_dangerous_or_unknown_content_is_refused(data, name):
    with pytest.raises(UnsupportedMediaType):
        upload_sniff(file=io.BytesIO(data), name=name)


PAGE = "<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>"
WORDS = "The quick brown fox jumps over the lazy dog; 3 < 4 and 5 > 2.\n"
SVG_ONLOAD = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>'


def utf16(text: str) -> bytes:
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


HIDDEN_MARKUP = {
    "utf-16 html": (utf16(PAGE), "page.txt"),
    "utf-16-be html": (codecs.BOM_UTF16_BE + PAGE.encode("utf-16-be"), "page.txt"),
    "utf-32 html": (PAGE.encode("utf-32"), "page.txt"),
    "utf-16 script": (utf16("#!/bin/sh\nrm -rf ~\n"), "notes.txt"),
    "html after 4 KiB": ((WORDS * 100 + PAGE).encode(), "notes.txt"),
    "html after 64 KiB": ((WORDS * 2000 + "<script>alert(1)</script>").encode(), "notes.md"),
    "utf-16 html after 4 KiB": (utf16(WORDS * 100 + PAGE), "notes.txt"),
    "utf-16 svg with onload": (utf16(SVG_ONLOAD), "logo.svg"),
    "utf-16 svg named txt": (utf16(SVG_ONLOAD), "logo.txt"),
    "utf-8 bom svg with onload": (codecs.BOM_UTF8 + SVG_ONLOAD.encode(), "logo.svg"),
}


@pytest.mark.parametrize(("data", "name"), HIDDEN_MARKUP.values(), ids=HIDDEN_MARKUP.keys())
def test_markup_hidden_by_encoding_or_position_is_refused(editor, tenant, data, name):
    response = upload(editor, tenant, name, data)
    assert response.status_code == 415, response.content
    assert response.json()["code"] == "unsupported_media_type"
    assert not File.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []


def test_markup_across_a_read_boundary_is_found():
    for shift in range(-8, 9, 4):
        data = b"a" * (sniff_module.SCAN_CHUNK_BYTES + shift) + b"<script>alert(1)</script>"
        with pytest.raises(UnsupportedMediaType):
            upload_sniff(file=io.BytesIO(data), name="notes.txt")
        wide = utf16("a" * (sniff_module.SCAN_CHUNK_BYTES // 2 + shift) + "<script>")
        with pytest.raises(UnsupportedMediaType):
            upload_sniff(file=io.BytesIO(wide), name="notes.txt")


@pytest.mark.parametrize(
    ("data", "name", "content_type"),
    [
        (utf16(WORDS * 3000), "notes.txt", "text/plain"),  # UTF-16 text, several reads long
        ((WORDS * 3000).encode("cp1252"), "notes.txt", "text/plain"),
        (codecs.BOM_UTF8 + (WORDS * 10).encode(), "notes.md", "text/markdown"),
        (
            utf16('<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'),
            "logo.svg",
            "image/svg+xml",
        ),
    ],
)
def test_harmless_text_in_any_encoding_is_accepted(data, name, content_type):
    assert upload_sniff(file=io.BytesIO(data), name=name).content_type == content_type


def test_mail_with_an_html_part_is_kept_as_a_message(editor, tenant):
    from files.services.processing_run import file_process

    message = (
        "From: ada@example.com\r\nTo: team@example.com\r\nSubject: Minutes\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\n" + WORDS * 100 + "Budget approved.\r\n"
        "--b\r\nContent-Type: text/html\r\n\r\n<html><body><p>Budget approved.</p></body></html>\r\n--b--\r\n"
    ).encode()
    response = upload(editor, tenant, "minutes.eml", message)
    assert response.status_code == 201 and response.json()["content_type"] == "message/rfc822"
    assert file_process(file_id=response.json()["id"]) == "completed"
    assert "Budget approved." in File.objects.get(pk=response.json()["id"]).content_text
    # The same page under another name is still an HTML page.
    assert upload(editor, tenant, "minutes.txt", message).status_code == 415


def test_harmless_mismatch_is_accepted_under_the_real_type():
    data = (CORPUS / "broken_or_malicious" / "mismatch_png_named.jpg").read_bytes()
    result = upload_sniff(file=io.BytesIO(data), name="mismatch_png_named.jpg")
    assert result.content_type == "image/png" and result.extension_mismatch is True
    clean = upload_sniff(file=io.BytesIO((CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()), name="Canon_40D.jpg")
    assert clean == type(clean)(content_type="image/jpeg", extension_mismatch=False)


def test_refused_upload_is_415_and_stores_nothing(editor, tenant):
    data = (CORPUS / "broken_or_malicious" / "vacation_photo.jpg").read_bytes()
    response = upload(editor, tenant, "vacation_photo.jpg", data)
    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not File.objects.exists() and tenant_objects(tenant) == []


def test_allowed_types_are_a_setting(editor, tenant, settings):
    settings.ALLOWED_CONTENT_TYPES = ["image/png"]
    assert upload(editor, tenant, "notes.txt", b"plain text").status_code == 415


def test_import_mirrors_folders_skips_duplicates_and_lists_refusals(editor, tenant, tmp_path):
    tree = tmp_path / "tree"
    (tree / "Photos" / "2003").mkdir(parents=True)
    shutil.copy(CORPUS / "photo_exif" / "court-exif.jpg", tree / "Photos" / "2003" / "court.jpg")
    shutil.copy(CORPUS / "photo_exif" / "court-exif.jpg", tree / "Photos" / "copy.jpg")
    shutil.copy(CORPUS / "text" / "crazyones.txt", tree / "crazyones.txt")
    shutil.copy(CORPUS / "broken_or_malicious" / "vacation_photo.jpg", tree / "vacation_photo.jpg")
    out = io.StringIO()
    call_command("import", str(tree), "--tenant", tenant.slug, "--folder", "/Imported", stdout=out)
    text = out.getvalue()
    assert "Imported 3, skipped 0 already present, refused 1." in text
    assert "refused vacation_photo.jpg" in text
    assert set(Folder.objects.filter(tenant=tenant).values_list("path", flat=True)) == {
        "/Imported/",
        "/Imported/Photos/",
        "/Imported/Photos/2003/",
    }
    assert File.objects.filter(tenant=tenant).count() == 3
    assert len(tenant_objects(tenant)) == 2  # the two identical photos share one object

    again = io.StringIO()
    call_command("import", str(tree), "--tenant", tenant.slug, "--folder", "/Imported", stdout=again)
    assert "Imported 0, skipped 3 already present, refused 1." in again.getvalue()
    assert File.objects.filter(tenant=tenant).count() == 3


def test_import_run_again_creates_nothing_twice_when_names_were_cleaned_or_renamed(editor, tenant, tmp_path):
    photo, other = ((CORPUS / "photo_exif" / name).read_bytes() for name in ("Canon_40D.jpg", "Kodak_CX7530.jpg"))
    tree = tmp_path / "tree"
    (tree / "Scans.").mkdir(parents=True)  # stored as "Scans"
    (tree / "Scans." / "notes.txt.").write_bytes(b"a name with a trailing dot")  # stored as "notes.txt"
    (tree / "PHOTO.JPG").write_bytes(photo)
    (tree / "Photo.jpg").write_bytes(photo)  # same bytes, a name differing only by case: "Photo (1).jpg"
    (tree / "photo.jpg").write_bytes(other)  # other bytes, the same name but for case: "photo (2).jpg"

    def run() -> str:
        out = io.StringIO()
        call_command("import", str(tree), "--tenant", tenant.slug, stdout=out)
        return out.getvalue()

    assert "Imported 4, skipped 0 already present, refused 0." in run()
    names = set(File.objects.filter(tenant=tenant).values_list("name", flat=True))
    assert names == {"notes.txt", "PHOTO.JPG", "Photo (1).jpg", "photo (2).jpg"}

    # As after an interruption: the run is repeated, and only what is missing is made.
    File.objects.filter(tenant=tenant, name="photo (2).jpg").delete()
    assert "Imported 1, skipped 3 already present, refused 0." in run()
    assert "Imported 0, skipped 4 already present, refused 0." in run()
    assert File.objects.filter(tenant=tenant).count() == 4
    assert list(Folder.objects.filter(tenant=tenant).values_list("path", flat=True)) == ["/Scans/"]


def test_reprocess_command_processes_failed_files(editor, tenant):
    good = upload(editor, tenant, "a.jpg", (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()).json()
    bad = upload(editor, tenant, "b.jpg", (CORPUS / "broken_or_malicious" / "truncated_jpeg.jpg").read_bytes()).json()
    done = upload(editor, tenant, "c.txt", b"already fine").json()
    File.objects.filter(pk__in=[good["id"], bad["id"]]).update(status="failed", error="old failure", error_code="x")
    File.objects.filter(pk=done["id"]).update(status="completed")
    out = io.StringIO()
    call_command("reprocess", "--tenant", tenant.slug, "--status", "failed", stdout=out)
    text = out.getvalue()
    assert "Done: 1 completed, 1 failed, 0 skipped." in text
    bad_file = File.objects.get(pk=bad["id"])
    assert f"failed  b.jpg ({bad['id']}): {bad_file.error_code}" in text
    assert File.objects.get(pk=good["id"]).status == "completed" and bad_file.status == "failed"


def test_reprocess_command_goes_on_after_a_transient_error(editor, tenant, disposable_s3):
    photo = (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()
    ids = [upload(editor, tenant, f"{n}.jpg", photo + bytes([n])).json()["id"] for n in range(3)]
    File.objects.filter(pk__in=ids).update(status="failed", error="old failure", error_code="x")
    disposable_s3.stop_s3()

    out = io.StringIO()
    call_command("reprocess", "--tenant", tenant.slug, stdout=out)

    # Each file was tried, and each is pending again for a later run or the stale-processing sweep.
    text = out.getvalue()
    assert "Done: 0 completed, 0 failed, 0 skipped, 3 left pending (storage or database unavailable)." in text
    for n, file_id in enumerate(ids):
        assert f"pending {n}.jpg ({file_id})" in text
    assert set(File.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"pending"}
