"""Uploads with an Idempotency-Key: a retry returns the first upload's file instead of a copy."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from accounts.models import ActivityEvent, Role
from files.models import Blob, File, FileVersion, UploadKey
from files.services import files as file_services
from files.services.idempotency import upload_keys_expire
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import all_past, sha, tenant_objects
from tests.files.test_upload_refusals import send_unread
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

KEY = "4b0f7c1e-upload-key"


def keyed_upload(client, tenant, name: str, data: bytes, key: str | None = KEY, **fields):
    body = {"file": SimpleUploadedFile(name, data), **fields}
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(f"/api/v1/tenants/{tenant.slug}/files/", body, format="multipart", **headers)


def test_a_retry_with_the_same_key_returns_the_first_file(editor, tenant):
    first = keyed_upload(editor, tenant, "report.txt", b"quarterly", description="Q3", tags="a,b")
    assert first.status_code == 201, first.content
    retry = keyed_upload(editor, tenant, "report.txt", b"quarterly", description="Q3", tags="a,b")
    assert retry.status_code == 200, retry.content
    assert retry.json() == first.json()
    assert list(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["report.txt"]
    assert ActivityEvent.objects.filter(tenant=tenant, verb="file.uploaded").count() == 1
    assert tenant_objects(tenant) == [f"tenants/{tenant.id}/blobs/{sha(b'quarterly')[:2]}/{sha(b'quarterly')}"]

    # Without a key, the same request is a new upload, as it always was.
    again = keyed_upload(editor, tenant, "report.txt", b"quarterly", key=None, description="Q3", tags="a,b")
    assert again.status_code == 201 and again.json()["name"] == "report (1).txt"


@pytest.mark.parametrize(
    "changed",
    [{"data": b"other bytes"}, {"name": "other.txt"}, {"description": "other"}, {"on_conflict": "fail"}],
)
def test_the_same_key_with_another_request_is_422(editor, tenant, changed):
    original = {"name": "report.txt", "data": b"quarterly", "description": "Q3"}
    assert keyed_upload(editor, tenant, **original).status_code == 201
    response = keyed_upload(editor, tenant, **{**original, **changed})
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert File.objects.filter(tenant=tenant).count() == 1
    assert Blob.objects.filter(tenant=tenant).count() == 1


def test_keys_belong_to_one_user_in_one_tenant(editor, member, tenant):
    other_editor = member(Role.EDITOR)
    elsewhere = MembershipFactory(user=editor.user, role=Role.EDITOR)
    assert keyed_upload(editor, tenant, "a.txt", b"same").status_code == 201
    assert keyed_upload(other_editor, tenant, "a.txt", b"same").status_code == 201
    assert keyed_upload(client_for(editor.user), elsewhere.tenant, "a.txt", b"same").status_code == 201
    assert sorted(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["a (1).txt", "a.txt"]
    assert File.objects.filter(tenant=elsewhere.tenant).count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "ünïcode", "tab\tkey"])
def test_a_malformed_key_is_400_before_the_body_is_read(editor, tenant, key):
    response = send_unread(editor, f"/api/v1/tenants/{tenant.slug}/files/", length=1000, HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and response.json()["code"] == "invalid_idempotency_key"


def test_two_retries_at_once_make_one_file(editor, tenant, transactional_db, monkeypatch):
    """Both get past the checks before either writes: the second waits for the first's
    transaction (the content lock, then the key) and answers with its file."""
    codes_and_ids = all_past(
        monkeypatch,
        file_services,
        "_check_upload",
        lambda: keyed_upload(editor, tenant, "race.txt", b"racing bytes"),
        lambda: keyed_upload(editor, tenant, "race.txt", b"racing bytes"),
    )
    assert sorted(r.status_code for r in codes_and_ids) == [200, 201]
    assert len({r.json()["id"] for r in codes_and_ids}) == 1
    assert list(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["race.txt"]


def test_one_key_with_two_different_uploads_at_once_stores_one(editor, tenant, transactional_db, monkeypatch):
    """Other bytes take another content lock: the second waits on the key itself."""
    responses = all_past(
        monkeypatch,
        file_services,
        "_check_upload",
        lambda: keyed_upload(editor, tenant, "one.txt", b"first bytes"),
        lambda: keyed_upload(editor, tenant, "two.txt", b"second bytes"),
    )
    assert sorted(r.status_code for r in responses) == [201, 422]
    assert File.objects.filter(tenant=tenant).count() == 1
    assert Blob.objects.filter(tenant=tenant).count() == 1


def test_a_key_is_kept_for_a_day(editor, tenant, settings):
    first = keyed_upload(editor, tenant, "a.txt", b"kept a day").json()
    UploadKey.objects.update(created_at=timezone.now() - timedelta(hours=settings.UPLOAD_IDEMPOTENCY_HOURS, minutes=1))
    later = keyed_upload(editor, tenant, "a.txt", b"kept a day")
    assert later.status_code == 201 and later.json()["id"] != first["id"]
    assert keyed_upload(editor, tenant, "a.txt", b"kept a day").json()["id"] == later.json()["id"]

    UploadKey.objects.update(created_at=timezone.now() - timedelta(hours=settings.UPLOAD_IDEMPOTENCY_HOURS, minutes=1))
    assert upload_keys_expire() == 1 and not UploadKey.objects.exists()


def test_a_retry_after_the_file_was_trashed_is_404(editor, tenant):
    first = keyed_upload(editor, tenant, "a.txt", b"trashed later").json()
    assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{first['id']}/").status_code == 204
    assert keyed_upload(editor, tenant, "a.txt", b"trashed later").status_code == 404
    assert File.objects.filter(tenant=tenant).count() == 1


def test_a_version_upload_retried_with_its_key_adds_one_version(editor, tenant):
    file = keyed_upload(editor, tenant, "doc.txt", b"version one", key=None).json()
    url = f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/versions/"

    def send():
        body = {"file": SimpleUploadedFile("doc.txt", b"version two"), "comment": "second"}
        return editor.post(url, body, format="multipart", HTTP_IDEMPOTENCY_KEY=KEY)

    first = send()
    assert first.status_code == 201 and first.json()["number"] == 2
    retry = send()
    assert retry.status_code == 200 and retry.json() == first.json()
    assert FileVersion.objects.filter(file_id=file["id"]).count() == 2


def test_the_portal_form_sent_twice_uploads_once(tenant):
    membership = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    browser = Client(enforce_csrf_checks=True)
    assert browser.login(username=membership.user.username, password=PASSWORD)
    page = browser.get(f"/t/{tenant.slug}/").content.decode()
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value, "idempotency_key": key}

    def send():
        files = [SimpleUploadedFile("a.txt", b"first of two"), SimpleUploadedFile("b.txt", b"second of two")]
        return browser.post(f"/t/{tenant.slug}/upload/", {**form, "file": files}, follow=True)

    assert "Uploaded “a.txt”" in send().content.decode()
    again = send().content.decode()
    assert "“a.txt” was uploaded already." in again and "“b.txt” was uploaded already." in again
    assert sorted(File.objects.filter(tenant=tenant).values_list("name", flat=True)) == ["a.txt", "b.txt"]
    assert key not in browser.get(f"/t/{tenant.slug}/").content.decode()  # each page has a key of its own
