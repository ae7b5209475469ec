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


def _set(client, tenant, file_id, visibility):
    return client.patch(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/", {"visibility": visibility}, format="json")


def _grant(owner_client, tenant, file_id, grantee, rights):
    granted = owner_client.post(
        f"/api/v1/tenants/{tenant.slug}/files/{file_id}/permissions/",
        {"user": str(grantee.user.id), "permissions": rights},
        format="json",
    )
    assert granted.status_code == 201


def test_changing_visibility_needs_share_and_publishing_needs_the_owner_or_an_admin(editor, owner, member, tenant):
    file_id = upload(editor, tenant, "plan.txt", b"the plan").json()["id"]
    assert _set(editor, tenant, file_id, "private").status_code == 200
    colleague = member("editor")

    _grant(editor, tenant, file_id, colleague, ["view", "change"])
    refused = _set(colleague, tenant, file_id, "tenant")
    assert refused.status_code == 403 and refused.json()["code"] == "visibility_not_allowed"
    assert _set(colleague, tenant, file_id, "public").status_code == 403

    _grant(editor, tenant, file_id, colleague, ["view", "change", "share"])
    assert _set(colleague, tenant, file_id, "tenant").status_code == 200
    assert _set(colleague, tenant, file_id, "public").status_code == 403
    assert Client().get(f"/p/{file_id}").status_code == 404

    assert _set(editor, tenant, file_id, "public").status_code == 200  # the file's owner
    assert _set(owner, tenant, file_id, "private").status_code == 200  # an owner of the tenant
    assert ActivityEvent.objects.filter(verb="file.updated", target_id=file_id).count() == 4


@pytest.mark.parametrize(("setting", "owner_may", "admin_may"), [("admins", False, True), ("nobody", False, False)])
def test_the_tenant_decides_who_may_publish(editor, owner, tenant, setting, owner_may, admin_may):
    assert (
        owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"public_files": setting}, format="json").json()["public_files"]
        == setting
    )
    file_id = upload(editor, tenant, "plan.txt", b"the plan").json()["id"]

    by_owner = _set(editor, tenant, file_id, "public")
    by_admin = _set(owner, tenant, file_id, "public")

    assert (by_owner.status_code == 200) is owner_may
    assert (by_admin.status_code == 200) is admin_may
    assert (Client().get(f"/p/{file_id}").status_code == 200) is (owner_may or admin_may)
