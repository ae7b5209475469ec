"""Writes racing each other: lock order between uploads, restores and the trash."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from files.models import File, FileVersion, Folder
from files.services import files as file_services
from files.services.trash import folder_trash
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


# --- Writing into a folder that is being trashed ------------------------------------


def folders_url(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/folders/{suffix}"


def make_folder(client, tenant, name, parent=None) -> str:
    response = client.post(folders_url(tenant), {"name": name, "parent": parent}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def trashed_while_waiting(editor, tenant, folder_id, write):
    """Run `write` in a thread while `folder_id` is being trashed: the trash holds the folder's
    row first (as folder_trash does), the writer queues behind it, the trash commits."""
    thread = InThread(write)
    with transaction.atomic():
        Folder.objects.select_for_update().get(pk=folder_id)
        thread.start()
        waiting(1, [thread])
        membership = Membership.objects.get(user=editor.user, tenant=tenant)
        folder_trash(membership=membership, folder_id=folder_id)
    return thread.outcome()


@pytest.mark.parametrize("into", ["folder", "subfolder"])
def test_an_upload_into_a_folder_trashed_meanwhile_is_a_404_and_files_nothing(editor, tenant, into):
    a = make_folder(editor, tenant, "A")
    target = a if into == "folder" else make_folder(editor, tenant, "B", a)

    response = trashed_while_waiting(
        editor, tenant, a, lambda: upload(client_for(editor.user), tenant, "late.txt", b"late", folder=target)
    )

    assert response.status_code == 404 and response.json()["detail"] == "Folder not found.", response.content
    assert not File.objects.filter(tenant=tenant, name="late.txt").exists()


def test_a_subfolder_made_in_a_folder_trashed_meanwhile_is_a_404(editor, tenant):
    a = make_folder(editor, tenant, "A")
    b = make_folder(editor, tenant, "B", a)

    response = trashed_while_waiting(
        editor,
        tenant,
        a,
        lambda: client_for(editor.user).post(folders_url(tenant), {"name": "new", "parent": b}, format="json"),
    )

    assert response.status_code == 404, response.content
    assert not Folder.objects.filter(tenant=tenant, name="new").exists()
    # A live /A/ made afterwards has nothing under it.
    again = make_folder(editor, tenant, "A")
    assert editor.get(folders_url(tenant), {"parent": again}).json()["results"] == []


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_moving_into_a_folder_trashed_meanwhile_is_a_404_and_moves_nothing(editor, tenant, kind):
    a = make_folder(editor, tenant, "A")
    b = make_folder(editor, tenant, "B", a)
    if kind == "file":
        moved = upload(editor, tenant, "m.txt", b"m").json()["id"]
        path, body, model, field = f"/api/v1/tenants/{tenant.slug}/files/{moved}/", {"folder": b}, File, "folder_id"
    else:
        moved = make_folder(editor, tenant, "M")
        path, body, model, field = folders_url(tenant, f"{moved}/"), {"parent": b}, Folder, "parent_id"

    response = trashed_while_waiting(
        editor, tenant, a, lambda: client_for(editor.user).patch(path, body, format="json")
    )

    assert response.status_code == 404, response.content
    row = model.objects.get(pk=moved)
    assert getattr(row, field) is None and row.deleted_at is None


def test_a_folder_trashed_after_an_upload_into_it_took_its_lock_takes_the_file_along(editor, tenant, monkeypatch):
    a = make_folder(editor, tenant, "A")
    b = make_folder(editor, tenant, "B", a)
    locked, go = threading.Event(), threading.Event()
    real_name_taken = file_services._name_taken

    def pause_after_the_lock(**kwargs):
        locked.set()
        assert go.wait(30)
        return real_name_taken(**kwargs)

    monkeypatch.setattr(file_services, "_name_taken", pause_after_the_lock)
    writer = InThread(lambda: upload(client_for(editor.user), tenant, "early.txt", b"early", folder=b))
    writer.start()
    assert locked.wait(30)
    membership = Membership.objects.get(user=editor.user, tenant=tenant)
    trash = InThread(lambda: folder_trash(membership=membership, folder_id=a))
    trash.start()
    waiting(1, [trash])  # the trash waits for the upload's lock on A
    go.set()

    assert writer.outcome().status_code == 201
    trash.outcome()
    file = File.objects.get(tenant=tenant, name="early.txt")
    assert file.deleted_at is not None and str(file.trashed_via_id) == a


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_restoring_into_a_folder_trashed_meanwhile_restores_into_the_root(editor, tenant, kind):
    a = make_folder(editor, tenant, "A")
    if kind == "file":
        entry = upload(editor, tenant, "r.txt", b"restore me", folder=a).json()["id"]
        trash_url, model, field = f"/api/v1/tenants/{tenant.slug}/files/{entry}/", File, "folder_id"
    else:
        entry = make_folder(editor, tenant, "R", a)
        trash_url, model, field = folders_url(tenant, f"{entry}/"), Folder, "parent_id"
    assert editor.delete(trash_url).status_code == 204
    restore = InThread(lambda: client_for(editor.user).post(f"/api/v1/tenants/{tenant.slug}/trash/{entry}/restore/"))
    with transaction.atomic():
        # A's trash has marked what is live inside and not committed yet when the restore
        # comes; it must wait, or it would put the entry back into a folder about to be trashed.
        membership = Membership.objects.get(user=editor.user, tenant=tenant)
        folder_trash(membership=membership, folder_id=a)
        restore.start()
        waiting(1, [restore])

    response = restore.outcome()
    assert response.status_code == 200, response.content
    row = model.objects.get(pk=entry)
    assert row.deleted_at is None and getattr(row, field) is None
    if kind == "folder":
        assert row.path == "/R/"


def test_two_uploads_that_fit_the_quota_alone_but_not_together_store_one(editor, tenant, monkeypatch):
    from accounts.models import Tenant
    from files.models import Blob
    from files.services import quota
    from tests.files.conftest import tenant_objects

    # The words of both names exist already: a new word's first two uploads would wait for
    # each other at the search term's insert, hiding whether the quota lock serialises them.
    seed = upload(editor, tenant, "0 1.txt", b"s").json()
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=301)
    real_read = quota._usage_read
    reads = []

    def first_read_held(**kwargs):
        used, rows = real_read(**kwargs)
        reads.append(used)
        if len(reads) == 1:
            # The first upload holds its decision until the second one waits for the
            # tenant's quota lock, or has read the usage too (the race this guards against).
            wait_until(lambda: lock_waiters("advisory") >= 1 or len(reads) > 1, what="the other upload's quota check")
        return used, rows

    monkeypatch.setattr(quota, "_usage_read", first_read_held)
    threads = [
        InThread(lambda n=n: upload(client_for(editor.user), tenant, f"{n}.txt", bytes([65 + n]) * 200))
        for n in range(2)
    ]
    for thread in threads:
        thread.start()
    responses = [thread.outcome() for thread in threads]

    assert reads == [201, 401]  # the second counted the first's bytes
    assert sorted(r.status_code for r in responses) == [201, 413], [r.content for r in responses]
    assert [r.json()["code"] for r in responses if r.status_code == 413] == ["quota_exceeded"]
    kept = next(r.json() for r in responses if r.status_code == 201)
    stored = {uuid.UUID(seed["id"]), uuid.UUID(kept["id"])}
    assert set(File.objects.filter(tenant=tenant).values_list("pk", flat=True)) == stored
    assert set(Blob.objects.filter(tenant=tenant).values_list("sha256", flat=True)) == {seed["sha256"], kept["sha256"]}
    assert len(tenant_objects(tenant)) == 2  # the refused upload's bytes are deleted
