from __future__ import annotations

import io
import threading
import zipfile
from datetime import timedelta

import pytest
import requests
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from analytics.models import ActivityEvent
from sharing.models import ShareLink
from sharing.services import token_hash
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def shares(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/shares/{suffix}"


@pytest.fixture
def shared_file(editor, tenant):
    file = upload(editor, tenant, "report.txt", b"quarterly numbers").json()
    created = editor.post(shares(tenant), {"file": file["id"]}, format="json")
    assert created.status_code == 201, created.content
    return file, created.json()


def test_create_returns_token_once_and_stores_only_its_hash(editor, tenant, shared_file):
    _file, body = shared_file
    token = body["token"]
    assert len(token) >= 22 and body["url"].endswith(f"/s/{token}")
    assert body["state"] == "active" and body["has_password"] is False and body["download_count"] == 0
    link = ShareLink.objects.get(pk=body["id"])
    assert link.token_hash == token_hash(token) and token not in link.token_hash
    expected = timezone.now() + timedelta(days=7)
    assert abs((link.expires_at - expected).total_seconds()) < 60
    listed = editor.get(shares(tenant)).json()["results"][0]
    assert "token" not in listed and listed["url"] is None


def test_public_page_and_download(shared_file):
    file, body = shared_file
    anonymous = Client()
    page = anonymous.get(f"/s/{body['token']}")
    assert page.status_code == 200 and "report.txt" in page.content.decode()
    download = anonymous.get(f"/s/{body['token']}/download", REMOTE_ADDR="198.51.100.7")
    assert download.status_code == 302
    assert requests.get(download["Location"], timeout=10).content == b"quarterly numbers"
    assert ShareLink.objects.get(pk=body["id"]).download_count == 1
    assert ActivityEvent.objects.filter(verb="share.downloaded", ip="198.51.100.7").exists()


def test_every_state(editor, tenant, shared_file):
    file, body = shared_file
    token, url = body["token"], shares(tenant, f"{body['id']}/")
    anonymous = Client()
    ShareLink.objects.filter(pk=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert editor.get(url).json()["state"] == "expired"
    assert anonymous.get(f"/s/{token}").status_code == 410

    ShareLink.objects.filter(pk=body["id"]).update(expires_at=timezone.now() + timedelta(days=1), max_downloads=1)
    assert anonymous.get(f"/s/{token}/download").status_code == 302
    assert editor.get(url).json()["state"] == "exhausted"
    assert anonymous.get(f"/s/{token}/download").status_code == 410

    assert editor.patch(url, {"max_downloads": 5}, format="json").json()["state"] == "active"
    assert editor.delete(url).status_code == 204
    assert editor.get(url).json()["state"] == "revoked"
    assert anonymous.get(f"/s/{token}").status_code == 404
    assert anonymous.get("/s/not-a-real-token").status_code == 404


def test_expiry_limits(editor, tenant):
    file = upload(editor, tenant, "a.txt", b"a").json()
    too_far = (timezone.now() + timedelta(days=tenant.share_max_days + 1)).isoformat()
    response = editor.post(shares(tenant), {"file": file["id"], "expires_at": too_far}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "expiry_too_far"
    past = (timezone.now() - timedelta(minutes=1)).isoformat()
    assert editor.post(shares(tenant), {"file": file["id"], "expires_at": past}, format="json").status_code == 400
    assert not ShareLink.objects.exists()


def test_password_unlocks_for_the_session_and_wrong_guesses_are_throttled(editor, tenant, settings):
    file = upload(editor, tenant, "secret.txt", b"secret").json()
    token = editor.post(shares(tenant), {"file": file["id"], "password": "open sesame"}, format="json").json()["token"]
    visitor = Client()
    assert "This link is protected" in visitor.get(f"/s/{token}").content.decode()
    assert visitor.get(f"/s/{token}/download").status_code == 302  # back to the form, not to S3
    assert "X-Amz" not in visitor.get(f"/s/{token}/download")["Location"]
    wrong = visitor.post(f"/s/{token}", {"password": "nope"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.content.decode()
    assert visitor.post(f"/s/{token}", {"password": "open sesame"}).status_code == 302
    assert "secret.txt" in visitor.get(f"/s/{token}").content.decode()
    assert "X-Amz-Signature" in visitor.get(f"/s/{token}/download")["Location"]

    settings.SHARE_PASSWORD_ATTEMPTS = 3
    cache.clear()  # the visitor's wrong guess above came from the same address
    attacker = Client()
    codes = [attacker.post(f"/s/{token}", {"password": f"guess{i}"}).status_code for i in range(5)]
    assert codes[:3] == [401, 401, 401] and codes[-1] == 429


def test_token_guessing_is_throttled(settings):
    settings.SHARE_TOKEN_GUESSES_PER_IP = 3
    guesser = Client()
    codes = [guesser.get(f"/s/guess-{i}").status_code for i in range(5)]
    assert codes[:3] == [404, 404, 404] and codes[-1] == 429


def test_max_downloads_is_exact_under_concurrency(editor, tenant, transactional_db):
    file = upload(editor, tenant, "hot.txt", b"hot").json()
    body = editor.post(shares(tenant), {"file": file["id"], "max_downloads": 3}, format="json").json()
    results: list[int] = []

    def fetch():
        results.append(Client().get(f"/s/{body['token']}/download").status_code)
        from django.db import connection

        connection.close()

    threads = [threading.Thread(target=fetch) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [302] * 3 + [410] * 7
    assert ShareLink.objects.get(pk=body["id"]).download_count == 3


def test_folder_link_lists_downloads_zips_and_cannot_reach_outside(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = editor.post(base + "folders/", {"name": "Shared"}, format="json").json()
    sub = editor.post(base + "folders/", {"name": "Sub", "parent": folder["id"]}, format="json").json()
    inside = upload(editor, tenant, "in.txt", b"inside", folder=folder["id"]).json()
    upload(editor, tenant, "deep.txt", b"deeper", folder=sub["id"])
    outside = upload(editor, tenant, "out.txt", b"outside").json()
    token = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()["token"]
    anonymous = Client()
    page = anonymous.get(f"/s/{token}").content.decode()
    assert "in.txt" in page and "deep.txt" in page and "out.txt" not in page
    assert anonymous.get(f"/s/{token}/files/{inside['id']}/download").status_code == 302
    assert anonymous.get(f"/s/{token}/files/{outside['id']}/download").status_code == 404
    assert anonymous.get(f"/s/{token}/download").status_code == 404  # a folder link has no single file
    response = anonymous.get(f"/s/{token}/zip")
    assert response.status_code == 200 and response.streaming
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == ["Sub/deep.txt", "in.txt"]
    assert archive.read("Sub/deep.txt") == b"deeper"


def test_trashing_the_target_stops_the_link(editor, tenant, shared_file):
    file, body = shared_file
    editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/")
    assert Client().get(f"/s/{body['token']}").status_code == 404


def test_viewers_cannot_share_and_links_of_others_are_hidden(member, editor, tenant, shared_file):
    file, body = shared_file
    viewer = member(Role.VIEWER)
    assert viewer.post(shares(tenant), {"file": file["id"]}, format="json").status_code == 403
    assert viewer.get(shares(tenant, f"{body['id']}/")).status_code == 404
    assert member(Role.ADMIN).get(shares(tenant, f"{body['id']}/")).status_code == 200


def test_zip_of_a_100_file_folder_is_streamed_with_flat_memory(editor, tenant):
    import os
    import tracemalloc

    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Many"}, format="json").json()
    for i in range(100):
        # Text so the type check accepts it; random so nothing deduplicates.
        upload(editor, tenant, f"part-{i:03}.txt", os.urandom(30_000).hex().encode(), folder=folder["id"])
    token = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()["token"]
    response = Client().get(f"/s/{token}/zip")
    assert response.status_code == 200
    tracemalloc.start()
    total, largest_piece = 0, 0
    entries = io.BytesIO()
    for piece in response.streaming_content:
        total += len(piece)
        largest_piece = max(largest_piece, len(piece))
        entries.write(piece)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    archive = zipfile.ZipFile(entries)
    assert len(archive.namelist()) == 100 and total > 100 * 60_000
    # The whole archive is ~6 MB; it never sat in memory at once, only a piece at a time
    # (peak counts the test's own copy of what it received, so compare to that).
    assert largest_piece <= 2 * 1024 * 1024
    assert peak - total < 3 * 1024 * 1024


def test_upload_only_links_take_files_and_show_nothing(editor, tenant):
    base = f"/api/v1/tenants/{tenant.slug}/"
    folder = editor.post(base + "folders/", {"name": "Inbox"}, format="json").json()
    existing = upload(editor, tenant, "private-plan.txt", b"plans", folder=folder["id"]).json()
    created = editor.post(shares(tenant), {"folder": folder["id"], "allow_upload": True}, format="json").json()
    token = created["token"]
    assert created["allow_upload"] is True
    visitor = Client(enforce_csrf_checks=True)
    page = visitor.get(f"/s/{token}")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Send files" in html and "private-plan.txt" not in html
    assert visitor.get(f"/s/{token}/zip").status_code == 404
    assert visitor.get(f"/s/{token}/files/{existing['id']}/download").status_code == 404

    csrf = visitor.cookies["csrftoken"].value
    sent = visitor.post(
        f"/s/{token}/upload",
        {"file": SimpleUploadedFile("report.txt", b"a submitted report"), "csrfmiddlewaretoken": csrf},
        REMOTE_ADDR="192.0.2.80",
    )
    assert sent.status_code == 302 and "uploaded=1" in sent["Location"]
    names = [f["name"] for f in editor.get(base + "files/", {"folder": folder["id"]}).json()["results"]]
    assert sorted(names) == ["private-plan.txt", "report.txt"]
    assert ActivityEvent.objects.filter(verb="share.uploaded", ip="192.0.2.80").exists()
    refused = visitor.post(f"/s/{token}/upload", {"file": io.BytesIO(b"\x7fELF\x02\x01"), "csrfmiddlewaretoken": csrf})
    assert refused.status_code == 415 and "Executable" in refused.content.decode()


def test_ordinary_links_take_no_uploads(editor, tenant, shared_file):
    _file, body = shared_file
    response = Client().post(f"/s/{body['token']}/upload", {"file": io.BytesIO(b"x")})
    assert response.status_code in (403, 404)
    assert editor.post(shares(tenant), {"file": _file["id"], "allow_upload": True}, format="json").status_code == 400
