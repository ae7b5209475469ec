from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from files.models import File, UploadSession, UploadState
from files.services.direct import upload_sessions_expire
from tests.files.conftest import CORPUS, sha, tenant_objects

pytestmark = pytest.mark.django_db


def start(client, tenant, filename, size, **extra):
    return client.post(
        f"/api/v1/tenants/{tenant.slug}/uploads/", {"filename": filename, "size": size, **extra}, format="json"
    )


def post_to_s3(created: dict, data: bytes, filename: str = "upload.bin") -> requests.Response:
    return requests.post(created["url"], data=created["fields"], files={"file": (filename, data)}, timeout=30)


def complete(client, tenant, upload_id, **body):
    return client.post(f"/api/v1/tenants/{tenant.slug}/uploads/{upload_id}/complete/", body, format="json")


def test_direct_upload_end_to_end(editor, tenant):
    data = (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()
    created = start(editor, tenant, "crazy ones.pdf", len(data), content_type="application/pdf")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "url", "fields", "expires_at"}
    assert post_to_s3(body, data).status_code in (200, 201, 204)
    assert tenant_objects(tenant, "staging") == [f"tenants/{tenant.id}/staging/{body['id']}"]

    done = complete(editor, tenant, body["id"], tags=["Poems"], description="Apple ad")
    assert done.status_code == 201, done.content
    file = done.json()
    assert file["name"] == "crazy ones.pdf" and file["sha256"] == sha(data) and file["size"] == len(data)
    assert file["tags"] == ["poems"] and file["content_type"] == "application/pdf"
    assert tenant_objects(tenant, "staging") == []
    assert tenant_objects(tenant) == [f"tenants/{tenant.id}/blobs/{sha(data)[:2]}/{sha(data)}"]
    fetched = requests.get(
        editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/download/")["Location"], timeout=10
    )
    assert fetched.content == data
    assert UploadSession.objects.get(pk=body["id"]).state == UploadState.COMPLETED

    again = complete(editor, tenant, body["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_completed"


def test_direct_upload_of_known_bytes_is_deduplicated(editor, tenant):
    data = b"the same bytes twice"
    for name in ("one.txt", "two.txt"):
        created = start(editor, tenant, name, len(data)).json()
        post_to_s3(created, data)
        assert complete(editor, tenant, created["id"]).status_code == 201
    assert len(tenant_objects(tenant)) == 1 and tenant_objects(tenant, "staging") == []
    assert File.objects.filter(tenant=tenant).count() == 2


def test_s3_refuses_more_bytes_than_declared(editor, tenant):
    created = start(editor, tenant, "small.bin", 10).json()
    response = post_to_s3(created, b"x" * 1000)
    assert response.status_code >= 400
    assert tenant_objects(tenant, "staging") == []
    missing = complete(editor, tenant, created["id"])
    assert missing.status_code == 400 and missing.json()["code"] == "upload_missing"


def test_declared_size_over_the_limit_is_413(editor, tenant):
    response = start(editor, tenant, "huge.bin", tenant.max_upload_bytes + 1)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert not UploadSession.objects.exists()


def test_unfinished_uploads_are_cleaned_up(editor, tenant):
    created = start(editor, tenant, "never.bin", 5).json()
    post_to_s3(created, b"12345")
    assert upload_sessions_expire() == 0
    UploadSession.objects.filter(pk=created["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert upload_sessions_expire() == 1
    assert tenant_objects(tenant, "staging") == []
    assert UploadSession.objects.get(pk=created["id"]).state == UploadState.EXPIRED
    late = complete(editor, tenant, created["id"])
    assert late.status_code == 409 and late.json()["code"] == "upload_expired"
    assert not File.objects.exists()


def test_another_users_upload_is_404(editor, tenant, member):
    created = start(editor, tenant, "mine.bin", 4).json()
    post_to_s3(created, b"mine")
    other = member()
    assert complete(other, tenant, created["id"]).status_code == 404
