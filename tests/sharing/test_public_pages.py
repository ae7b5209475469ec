"""The public pages: share pages (file, folder, password, upload-only), public files, and
their 404/410/429 pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from files.models import File
from files.services.processing_run import file_process
from sharing.models import ShareLink
from tests.files.conftest import upload
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db


def shares(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/shares/"


def share(client, tenant, **body) -> dict:
    created = client.post(shares(tenant), body, format="json")
    assert created.status_code == 201, created.content
    return created.json()


def page_of(response, status: int = 200) -> str:
    assert response.status_code == status, response.status_code
    return response.content.decode()


def test_a_file_share_page_previews_at_screen_size_and_offers_download(editor, tenant):
    photo = upload(editor, tenant, "court.jpg", (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()).json()
    assert file_process(file_id=photo["id"]) == "completed"
    link = share(editor, tenant, file=photo["id"])

    response = Client().get(f"/s/{link['token']}")
    html = page_of(response)

    assert response["Referrer-Policy"] == "no-referrer" and response["X-Robots-Tag"] == "noindex"
    assert "<h1>court.jpg</h1>" in html and "78.7\xa0KB" in html and "link expires" in html
    assert re.search(r'<img src="[^"]*large\.webp[^"]*" alt="Preview of court.jpg">', html)
    assert f'<a class="btn primary" href="/s/{link["token"]}/download" download>Download</a>' in html


def test_a_folder_share_page_lists_files_with_their_downloads_and_the_zip(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/folders/"
    folder = editor.post(base, {"name": "Pack"}, format="json").json()
    sub = editor.post(base, {"name": "Deeper", "parent": folder["id"]}, format="json").json()
    top = upload(editor, tenant, "top.txt", b"top", folder=folder["id"]).json()
    deep = upload(editor, tenant, "deep.txt", b"deep", folder=sub["id"]).json()
    link = share(editor, tenant, folder=folder["id"])
    token = link["token"]

    html = page_of(Client().get(f"/s/{token}"))

    assert "<h1>Pack</h1>" in html and "2 files" in html
    assert f'href="/s/{token}/zip">Download all as ZIP</a>' in html
    for file in (top, deep):
        assert re.search(
            rf'href="/s/{token}/files/{file["id"]}/download" download>.*?{file["name"]}</span>', html, re.S
        )
    assert "Deeper/" in html  # where a file below the shared folder is


def test_the_password_form_unlocks_and_says_when_the_password_is_wrong(editor, tenant):
    file = upload(editor, tenant, "secret.txt", b"secret").json()
    link = share(editor, tenant, file=file["id"], password="open sesame")
    visitor = Client()

    response = visitor.get(f"/s/{link['token']}")
    # Its form is posted to us: under `no-referrer` browsers send `Origin: null`, refused by the CSRF check.
    assert response["Referrer-Policy"] == "same-origin"
    locked = page_of(response)
    assert '<label for="share-password">Password</label>' in locked
    assert '<button type="submit" class="primary">Unlock</button>' in locked and "secret.txt" not in locked

    wrong = page_of(visitor.post(f"/s/{link['token']}", {"password": "guess"}), 401)
    assert 'aria-invalid="true" aria-describedby="password-error"' in wrong
    assert '<p class="field-error" id="password-error">Wrong password.</p>' in wrong

    assert visitor.post(f"/s/{link['token']}", {"password": "open sesame"}).status_code == 302
    assert "<h1>secret.txt</h1>" in page_of(visitor.get(f"/s/{link['token']}"))


def test_each_dead_end_has_its_page_and_status(editor, tenant, settings):
    file = upload(editor, tenant, "report.txt", b"numbers").json()
    expired, exhausted, revoked = (share(editor, tenant, file=file["id"], max_downloads=1) for _ in range(3))
    ShareLink.objects.filter(pk=expired["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    ShareLink.objects.filter(pk=exhausted["id"]).update(download_count=1)
    editor.delete(f"{shares(tenant)}{revoked['id']}/")
    visitor = Client()

    assert "<h1>This link does not exist</h1>" in page_of(visitor.get("/s/not-a-token"), 404)
    gone = page_of(visitor.get(f"/s/{expired['token']}"), 410)
    assert "<h1>This link has expired</h1>" in gone and "expiry date" in gone
    used = page_of(visitor.get(f"/s/{exhausted['token']}/download"), 410)
    assert "<h1>This link has expired</h1>" in used and "download limit" in used
    assert "<h1>This link was revoked</h1>" in page_of(visitor.get(f"/s/{revoked['token']}"), 410)

    settings.SHARE_TOKEN_GUESSES_PER_IP = 2
    codes = [visitor.get(f"/s/guess-{i}") for i in range(3)]
    throttled = codes[-1]
    assert throttled.status_code == 429 and throttled["Retry-After"] == str(settings.LOGIN_THROTTLE_WINDOW)
    assert "<h1>Too many attempts</h1>" in throttled.content.decode()


def test_upload_only_links_take_files_one_request_each_with_an_idempotency_key(editor, tenant):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Inbox"}, format="json").json()
    link = share(editor, tenant, folder=folder["id"], allow_upload=True)
    visitor = Client(enforce_csrf_checks=True)
    html = page_of(visitor.get(f"/s/{link['token']}"))
    assert 'aria-label="Drop files here"' in html and '<label for="share-files">Files to send</label>' in html
    assert "share_upload.js" in html and "Send files" in html
    csrf = visitor.cookies["csrftoken"].value

    def send(name: str, data: bytes, key: str):
        return visitor.post(
            f"/s/{link['token']}/upload",
            {"file": SimpleUploadedFile(name, data)},
            HTTP_ACCEPT="application/json",
            HTTP_X_CSRFTOKEN=csrf,
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = send("a.txt", b"first file", "key-a")
    assert first.status_code == 201 and first.json() == {"files": [{"name": "a.txt"}]}
    assert send("a.txt", b"first file", "key-a").status_code == 201  # a retry of the same request
    assert send("b.txt", b"second file", "key-b").status_code == 201
    assert sorted(File.objects.filter(folder_id=folder["id"]).values_list("name", flat=True)) == ["a.txt", "b.txt"]

    refused = send("setup.exe", b"MZ\x90\x00\x03" + b"\x00" * 60, "key-c")
    assert refused.status_code == 415 and refused.json()["code"] == "unsupported_media_type"
    assert "Executable" in refused.json()["detail"]
    reused = send("c.txt", b"other bytes", "key-a")
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"
    assert File.objects.filter(folder_id=folder["id"]).count() == 2


def test_the_public_file_page_and_its_404(editor, tenant):
    file = upload(editor, tenant, "open.txt", b"open data", description="For everyone").json()
    anonymous = Client()
    assert "<h1>This file is not available</h1>" in page_of(anonymous.get(f"/p/{file['id']}"), 404)

    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/", {"visibility": "public"}, format="json")
    html = page_of(anonymous.get(f"/p/{file['id']}"))
    assert "<h1>open.txt</h1>" in html and "For everyone" in html
    assert f'href="/p/{file["id"]}/download" download>Download</a>' in html


def test_names_like_markup_are_text_on_public_pages(editor, tenant):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "<b>Box"}, format="json").json()
    file = upload(editor, tenant, "<script>alert(1).txt", b"x", folder=folder["id"]).json()
    for body in ({"file": file["id"]}, {"folder": folder["id"]}):
        html = page_of(Client().get(f"/s/{share(editor, tenant, **body)['token']}"))
        assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1).txt" in html
        assert "<b>Box" not in html


def test_a_document_without_a_picture_shows_the_start_of_its_text_unless_downloads_are_counted(editor, tenant):
    file = upload(editor, tenant, "minutes.txt", b"Minutes of the walrus & carpenter meeting").json()
    assert file_process(file_id=file["id"]) == "completed"
    open_link = share(editor, tenant, file=file["id"])
    limited = share(editor, tenant, file=file["id"], max_downloads=2)

    html = page_of(Client().get(f"/s/{open_link['token']}"))
    assert "Minutes of the walrus &amp; carpenter meeting</pre>" in html
    limited_html = page_of(Client().get(f"/s/{limited['token']}"))
    assert "walrus" not in limited_html and "No preview of this file" in limited_html
    assert "2 downloads left" in limited_html
