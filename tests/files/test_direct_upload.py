from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from accounts.models import Membership, Role, Tenant
from files import storage
from files.models import Blob, File, UploadSession, UploadState
from files.services import direct
from files.services.direct import upload_sessions_expire
from files.uploads import HashedUpload
from tests.files.conftest import CORPUS, InThread, downloaded, sha, tenant_objects
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def start(client, tenant, filename, size, **extra):
    return client.post(
        f"/api/v1/tenants/{tenant.slug}/uploads/", {"filename": filename, "size": size, **extra}, format="json"
    )


def post_to_s3(created: dict, data: bytes, filename: str = "upload.bin") -> requests.Response:
    return requests.post(created["url"], data=created["fields"], files={"file": (filename, data)}, timeout=30)


def complete(client, tenant, upload_id, **body):
    return client.post(f"/api/v1/tenants/{tenant.slug}/uploads/{upload_id}/complete/", body, format="json")


def test_direct_upload_end_to_end(editor, tenant, after_commit):
    data = (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()
    created = start(editor, tenant, "crazy ones.pdf", len(data), content_type="application/pdf")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "url", "fields", "expires_at"}
    assert post_to_s3(body, data).status_code in (200, 201, 204)
    assert tenant_objects(tenant, "staging") == [f"tenants/{tenant.id}/staging/{body['id']}"]

    with after_commit():
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

    # A repeated complete (a retry after a lost answer) gets the same file, not a second one.
    again = complete(editor, tenant, body["id"])
    assert again.status_code == 200 and again.json()["id"] == file["id"]
    assert File.objects.filter(tenant=tenant).count() == 1


def test_direct_upload_of_known_bytes_is_deduplicated(editor, tenant, after_commit):
    data = b"the same bytes twice"
    for name in ("one.txt", "two.txt"):
        created = start(editor, tenant, name, len(data)).json()
        post_to_s3(created, data)
        with after_commit():
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


def test_bytes_posted_again_while_complete_hashes_are_refused(editor, tenant, monkeypatch, after_commit):
    """The presigned POST works until it expires: bytes posted again while complete hashes
    the first ones must not end up at the first ones' content address."""
    hashed, posted_meanwhile = b"the bytes that were hashed", b"other bytes, the same size"
    created = start(editor, tenant, "note.txt", len(hashed)).json()
    post_to_s3(created, hashed)

    class PostedAgainAfterHashing(HashedUpload):
        @classmethod
        def from_chunks(cls, chunks, **kwargs):
            upload = super().from_chunks(chunks, **kwargs)
            assert post_to_s3(created, posted_meanwhile).status_code in (200, 201, 204)
            return upload

    monkeypatch.setattr(direct, "HashedUpload", PostedAgainAfterHashing)
    refused = complete(editor, tenant, created["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "upload_changed"
    assert tenant_objects(tenant) == [] and not File.objects.filter(tenant=tenant).exists()
    monkeypatch.undo()

    # Completing again files the bytes that are there now, at their own address.
    with after_commit():
        done = complete(editor, tenant, created["id"])
    assert done.status_code == 201 and done.json()["sha256"] == sha(posted_meanwhile)
    assert downloaded(editor, tenant, done.json()["id"]) == (200, posted_meanwhile)
    assert tenant_objects(tenant) == [storage.blob_key(tenant.id, sha(posted_meanwhile))]


def test_completing_twice_at_once_makes_one_file(editor, tenant, transactional_db, monkeypatch):
    data = b"completed by a client and by its retry at the same time"
    created = start(editor, tenant, "once.txt", len(data)).json()
    post_to_s3(created, data)
    both_hashed = threading.Barrier(2, timeout=30)

    class HashedTogether(HashedUpload):
        @classmethod
        def from_chunks(cls, chunks, **kwargs):
            upload = super().from_chunks(chunks, **kwargs)
            both_hashed.wait()  # both calls are past every early check
            return upload

    monkeypatch.setattr(direct, "HashedUpload", HashedTogether)
    calls = [InThread(lambda: complete(client_for(editor.user), tenant, created["id"])) for _ in range(2)]
    for call in calls:
        call.start()
    responses = [call.outcome() for call in calls]

    assert sorted(r.status_code for r in responses) == [200, 201], [r.content for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert File.objects.filter(tenant=tenant).count() == 1
    assert tenant_objects(tenant, "staging") == []
    assert downloaded(editor, tenant, responses[0].json()["id"]) == (200, data)


def test_a_refused_complete_stores_nothing(editor, tenant):
    blob_of = lambda data: storage.blob_key(tenant.id, sha(data))  # noqa: E731

    # A folder that is not there (404) leaves the session pending: complete again without it.
    data = b"filed into a folder that is not there"
    created = start(editor, tenant, "lost.txt", len(data)).json()
    post_to_s3(created, data)
    missing = complete(editor, tenant, created["id"], folder=str(uuid.uuid4()))
    assert missing.status_code == 404
    assert tenant_objects(tenant) == [] and not File.objects.filter(tenant=tenant).exists()
    assert tenant_objects(tenant, "staging") == [storage.staging_key(tenant.id, created["id"])]
    assert complete(editor, tenant, created["id"]).status_code == 201
    assert tenant_objects(tenant) == [blob_of(data)]

    # Over the quota (413): nothing stored, the staged bytes deleted, the session over.
    data = b"more than the quota leaves room for"
    created = start(editor, tenant, "big.txt", len(data)).json()
    post_to_s3(created, data)
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=60)
    over = complete(editor, tenant, created["id"])
    assert over.status_code == 413 and over.json()["code"] == "quota_exceeded"
    assert blob_of(data) not in tenant_objects(tenant) and not Blob.objects.filter(sha256=sha(data)).exists()
    assert storage.staging_key(tenant.id, created["id"]) not in tenant_objects(tenant, "staging")
    assert UploadSession.objects.get(pk=created["id"]).state == UploadState.EXPIRED
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=10 * 1024**3)

    # A type that is refused (415): the same.
    data = b"<html><body><script>alert(1)</script></body></html>"
    created = start(editor, tenant, "page.html", len(data)).json()
    post_to_s3(created, data)
    refused = complete(editor, tenant, created["id"])
    assert refused.status_code == 415
    assert blob_of(data) not in tenant_objects(tenant)
    assert storage.staging_key(tenant.id, created["id"]) not in tenant_objects(tenant, "staging")

    # No longer allowed to upload (403): nothing stored.
    data = b"uploaded by an editor who is a viewer now"
    created = start(editor, tenant, "demoted.txt", len(data)).json()
    post_to_s3(created, data)
    Membership.objects.filter(user=editor.user, tenant=tenant).update(role=Role.VIEWER)
    assert complete(editor, tenant, created["id"]).status_code == 403
    assert blob_of(data) not in tenant_objects(tenant)
    assert File.objects.filter(tenant=tenant).count() == 1


def test_fewer_bytes_than_declared_is_400_and_the_bytes_can_be_posted_again(editor, tenant):
    created = start(editor, tenant, "short.txt", 10).json()
    post_to_s3(created, b"12345")
    short = complete(editor, tenant, created["id"])
    assert short.status_code == 400 and short.json()["code"] == "size_mismatch"
    assert tenant_objects(tenant) == [] and not File.objects.filter(tenant=tenant).exists()

    post_to_s3(created, b"1234567890")
    done = complete(editor, tenant, created["id"])
    assert done.status_code == 201 and done.json()["size"] == 10
