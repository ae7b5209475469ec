"""Writes racing each other: lock order between uploads, restores and the trash."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from files.models import File, FileVersion
from tests.files.conftest import InThread, lock_waiters, sha, upload, wait_until
from tests.helpers import client_for

pytestmark = pytest.mark.django_db(transaction=True)


def url(tenant, file_id, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/files/{file_id}/{suffix}"


def post_version(user, tenant, file_id, data: bytes):
    return client_for(user).post(
        url(tenant, file_id, "versions/"), {"file": SimpleUploadedFile("plan.txt", data)}, format="multipart"
    )


def waiting(n: int, threads) -> None:
    wait_until(
        lambda: lock_waiters() >= n or any(not t.is_alive() for t in threads), what=f"{n} writers waiting for a lock"
    )


def test_restoring_a_version_while_its_bytes_are_uploaded_again_makes_both_versions(editor, tenant):
    file = upload(editor, tenant, "plan.txt", b"v1 bytes").json()
    assert post_version(editor.user, tenant, file["id"], b"v2 bytes").status_code == 201
    restore = InThread(lambda: client_for(editor.user).post(url(tenant, file["id"], "versions/1/restore/")))
    again = InThread(lambda: post_version(editor.user, tenant, file["id"], b"v1 bytes"))
    with transaction.atomic():
        # The restore queues for the file first; the upload, holding v1's content, behind it.
        # Had the upload locked v1's blob before the file, the restore would wait for the blob.
        File.objects.select_for_update().get(pk=file["id"])
        restore.start()
        waiting(1, [restore])
        again.start()
        waiting(2, [restore, again])

    responses = [restore.outcome(), again.outcome()]
    assert [r.status_code for r in responses] == [201, 201], [r.content for r in responses]
    versions = FileVersion.objects.filter(file_id=file["id"]).order_by("number")
    assert [(v.number, v.blob.sha256) for v in versions] == [
        (1, sha(b"v1 bytes")),
        (2, sha(b"v2 bytes")),
        (3, sha(b"v1 bytes")),
        (4, sha(b"v1 bytes")),
    ]


@pytest.mark.parametrize("write", ["version", "restore"])
def test_a_version_for_a_file_trashed_meanwhile_is_a_404_and_adds_nothing(editor, tenant, write):
    file = upload(editor, tenant, "plan.txt", b"v1 bytes").json()
    if write == "version":
        thread = InThread(lambda: post_version(editor.user, tenant, file["id"], b"v2 bytes"))
    else:
        thread = InThread(lambda: client_for(editor.user).post(url(tenant, file["id"], "versions/1/restore/")))
    with transaction.atomic():
        # What file_trash does, with the writer already past its checks and waiting.
        File.objects.select_for_update().get(pk=file["id"])
        thread.start()
        waiting(1, [thread])
        File.objects.filter(pk=file["id"]).update(deleted_at=timezone.now(), deleted_by=editor.user)

    response = thread.outcome()
    assert response.status_code == 404, response.content
    assert FileVersion.objects.filter(file_id=file["id"]).count() == 1
    assert File.objects.get(pk=file["id"]).current_version.number == 1
