from __future__ import annotations

import pytest
import requests
from django.test import Client

from accounts.models import ActivityEvent
from files.services.processing_run import file_process
from tests.files.conftest import upload
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(editor, tenant):
    data = (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()
    file_id = upload(editor, tenant, "court.jpg", data).json()["id"]
    file_process(file_id=file_id)
    return file_id, data


def test_only_public_files_have_a_public_page(editor, tenant, photo):
    file_id, data = photo
    anonymous = Client()
    for visibility in ("private", "tenant"):
        editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"visibility": visibility}, format="json")
        assert anonymous.get(f"/p/{file_id}").status_code == 404
        assert anonymous.get(f"/p/{file_id}/download").status_code == 404

    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"visibility": "public"}, format="json")
    page = anonymous.get(f"/p/{file_id}")
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    html = page.content.decode()
    assert "court.jpg" in html and "<img src=" in html and f"/p/{file_id}/download" in html
    download = anonymous.get(f"/p/{file_id}/download", REMOTE_ADDR="203.0.113.9")
    assert download.status_code == 302
    fetched = requests.get(download["Location"], timeout=10)
    assert fetched.content == data and fetched.headers["Content-Disposition"].startswith("attachment;")
    event = ActivityEvent.objects.get(verb="file.downloaded", target_id=file_id)
    assert event.user is None and event.ip == "203.0.113.9"


def test_trashing_a_public_file_closes_its_page(editor, tenant, photo):
    file_id, _data = photo
    editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"visibility": "public"}, format="json")
    editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/")
    assert Client().get(f"/p/{file_id}").status_code == 404
