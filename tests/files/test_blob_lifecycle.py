"""Purges, uploads and the orphan sweep racing for the same stored bytes (files.services.blobs,
files.services.orphans).

What a user notices is what these check: the status codes, the rows, and whether the bytes
of every file still there can be downloaded from S3.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import OperationalError

from files import storage
from files.models import Blob, File, Rendition, UploadSession, UploadState
from files.services import blobs
from files.services import files as file_services
from files.services import trash as trash_services
from files.services.orphans import orphan_sweep
from files.services.processing_run import rendition_key
from files.services.quota import tenant_usage_bytes
from tests.factories import TenantFactory
from tests.files.conftest import InThread, downloaded, lock_waiters, sha, tenant_objects, upload, wait_until
from tests.files.test_direct_upload import complete, post_to_s3, start
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def t(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


def put(key: str, data: bytes) -> None:
    storage.object_put(key=key, body=data, sha256=sha(data), content_type="application/octet-stream")


def sweep(tenant_id, **kwargs) -> int:
    # Every object counts as old enough, as in a listing taken an hour after it was written.
    return orphan_sweep(older_than=timedelta(0), tenant_ids=[tenant_id], **kwargs)


# --- Purging: rows in the transaction, objects after it commits ----------------------------


def test_a_purge_that_rolls_back_keeps_every_byte(editor, tenant, monkeypatch, after_commit):
    contents = [b"the first file in the trash", b"the second file in the trash"]
    files = [upload(editor, tenant, f"{n}.txt", data).json() for n, data in enumerate(contents)]
    for file in files:
        editor.delete(t(tenant, f"files/{file['id']}/"))

    def failing(**kwargs):
        raise OperationalError("simulated database failure at the end of the purge")

    monkeypatch.setattr(trash_services, "event_record", failing)
    with after_commit():
        failed = editor.post(t(tenant, "trash/empty/"))
    assert failed.status_code == 503 and failed.json()["code"] == "database_unavailable"
    monkeypatch.undo()

    # Nothing was purged, so everything comes back whole.
    for file, data in zip(files, contents, strict=True):
        assert editor.post(t(tenant, f"trash/{file['id']}/restore/")).status_code == 200
        assert downloaded(editor, tenant, file["id"]) == (200, data)


def test_a_permanent_delete_that_rolls_back_keeps_every_version(editor, tenant, monkeypatch, after_commit):
    contents = [b"version one", b"version two", b"version three"]
    file = upload(editor, tenant, "plan.txt", contents[0]).json()
    for data in contents[1:]:
        body = {"file": SimpleUploadedFile("plan.txt", data)}
        assert editor.post(t(tenant, f"files/{file['id']}/versions/"), body, format="multipart").status_code == 201

    def failing(**kwargs):
        raise OperationalError("simulated database failure at the end of the purge")

    monkeypatch.setattr(trash_services, "event_record", failing)
    with after_commit():
        failed = editor.delete(t(tenant, f"files/{file['id']}/?permanent=true"))
    assert failed.status_code == 503 and failed.json()["code"] == "database_unavailable"
    monkeypatch.undo()

    for number, data in enumerate(contents, start=1):
        assert downloaded(editor, tenant, file["id"], version=number) == (200, data)


def test_storage_failing_in_the_middle_of_emptying_the_trash_leaves_no_row_without_bytes(
    editor, tenant, disposable_s3, after_commit
):
    files = [upload(editor, tenant, f"{n}.txt", f"trashed file {n}".encode()).json() for n in range(2)]
    for file in files:
        editor.delete(t(tenant, f"files/{file['id']}/"))
    deletes = []

    def stop_after_the_first_delete(**kwargs):
        deletes.append(kwargs["http_response"].status_code)
        if len(deletes) == 1:
            disposable_s3.stop_s3()

    storage.s3_client().meta.events.register("after-call.s3.DeleteObject", stop_after_the_first_delete)
    with after_commit():
        response = editor.post(t(tenant, "trash/empty/"))

    # The purge committed before any object was deleted: it is done, whatever S3 did after.
    # The object it could not delete is an orphan for the sweep, and no row points at it.
    assert response.status_code == 204
    assert len(deletes) == 1  # the second delete never reached S3
    assert editor.get(t(tenant, "trash/")).json()["results"] == []
    assert not File.objects.filter(tenant=tenant).exists()
    assert not Blob.objects.filter(tenant=tenant).exists()


def test_an_upload_reusing_a_blob_that_a_purge_releases_keeps_its_bytes(editor, tenant, transactional_db, monkeypatch):
    """The purge commits its row deletes while the upload, which found the blob, waits; the
    upload then stores the bytes again. The purge's object delete, after its commit, must
    not remove them (it holds the content lock and finds the upload's row)."""
    data = b"the bytes a trashed file and a new upload share"
    trashed = upload(editor, tenant, "old.txt", data).json()
    editor.delete(t(tenant, f"files/{trashed['id']}/"))
    key = storage.blob_key(tenant.id, sha(data))

    decided, go = threading.Event(), threading.Event()
    real_exists = blobs.blob_exists

    def exists_then_wait(**kwargs):
        found = real_exists(**kwargs)
        decided.set()  # the upload knows the blob is there, and holds the content lock
        assert go.wait(30)
        return found

    monkeypatch.setattr(blobs, "blob_exists", exists_then_wait)
    uploader = InThread(lambda: upload(client_for(editor.user), tenant, "new.txt", data))
    uploader.start()
    assert decided.wait(30)

    purge_deleting = threading.Event()

    def hold_the_delete_until_the_upload_is_done(**kwargs):
        # Whoever deletes these bytes waits for the upload to end (or block) first: the
        # worst moment for a delete that does not look again.
        if kwargs["params"]["Key"] == key:
            purge_deleting.set()
            wait_until(lambda: not uploader.is_alive() or lock_waiters() > 0, what="the upload to finish")

    client = storage.s3_client()
    client.meta.events.register("before-parameter-build.s3.DeleteObject", hold_the_delete_until_the_upload_is_done)
    try:
        purger = InThread(lambda: client_for(editor.user).delete(t(tenant, f"trash/{trashed['id']}/")))
        purger.start()
        wait_until(
            lambda: purge_deleting.is_set() or lock_waiters("advisory") > 0 or not purger.is_alive(),
            what="the purge to reach its object delete",
        )
        go.set()
        response = uploader.outcome()
        assert purger.outcome().status_code == 204
    finally:
        client.meta.events.unregister(
            "before-parameter-build.s3.DeleteObject", hold_the_delete_until_the_upload_is_done
        )

    assert response.status_code == 201, response.content
    assert downloaded(editor, tenant, response.json()["id"]) == (200, data)
    assert Blob.objects.filter(tenant=tenant, sha256=sha(data)).exists()


def test_two_purges_of_files_sharing_bytes_at_once_both_finish(editor, tenant, transactional_db, monkeypatch):
    """Each purge releases its blobs in id order, holding each shared one it keeps: purge A
    has released X and waits for S, which purge B holds while it releases Y. Anything that
    made releasing Y wait for purge A (a lock on a per-tenant counter, say) would deadlock."""
    a = upload(editor, tenant, "a.txt", b"only in a").json()
    upload(editor, tenant, "a.txt", b"shared by both", on_conflict="replace")
    b = upload(editor, tenant, "b.txt", b"shared by both").json()
    upload(editor, tenant, "b.txt", b"only in b", on_conflict="replace")
    x, shared, y = (
        Blob.objects.get(tenant=tenant, sha256=sha(data)).pk for data in (b"only in a", b"shared by both", b"only in b")
    )
    assert x < shared < y

    real_release = trash_services.blob_release_if_unused
    x_released, shared_kept = threading.Event(), threading.Event()
    shared_calls = []

    def in_order(*, blob_id):
        if blob_id == x:  # purge A
            released = real_release(blob_id=blob_id)
            x_released.set()
            assert shared_kept.wait(30)
            return released
        if blob_id == shared and not shared_calls:  # purge B, first
            shared_calls.append(blob_id)
            assert x_released.wait(30)
            kept = real_release(blob_id=blob_id)
            shared_kept.set()
            return kept
        return real_release(blob_id=blob_id)

    monkeypatch.setattr(trash_services, "blob_release_if_unused", in_order)
    purges = [
        InThread(lambda file=file: client_for(editor.user).delete(t(tenant, f"files/{file['id']}/?permanent=true")))
        for file in (a, b)
    ]
    for purge in purges:
        purge.start()
    assert [purge.outcome().status_code for purge in purges] == [204, 204]
    assert not Blob.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []
    assert tenant_usage_bytes(tenant=tenant) == 0


# --- The orphan sweep -------------------------------------------------------------------


def test_the_sweep_never_deletes_the_bytes_of_an_upload_about_to_commit(editor, tenant, transactional_db, monkeypatch):
    """A failed attempt left the bytes behind an hour ago; the retry writes them again and is
    committing its row when the sweep comes by. The listing (old object) and the committed
    rows (none yet) both say orphan: only the content lock tells the truth."""
    data = b"bytes whose first upload failed after the S3 write"
    put(storage.blob_key(tenant.id, sha(data)), data)

    in_transaction, go = threading.Event(), threading.Event()
    real_add_version = file_services._add_version

    def add_version_then_wait(**kwargs):
        in_transaction.set()
        assert go.wait(30)
        return real_add_version(**kwargs)

    monkeypatch.setattr(file_services, "_add_version", add_version_then_wait)
    uploader = InThread(lambda: upload(client_for(editor.user), tenant, "retry.txt", data))
    uploader.start()
    assert in_transaction.wait(30)
    sweeper = InThread(lambda: sweep(tenant.id))
    sweeper.start()
    wait_until(lambda: not sweeper.is_alive() or lock_waiters("advisory") > 0, what="the sweep to decide")
    go.set()

    response = uploader.outcome()
    assert response.status_code == 201, response.content
    assert downloaded(editor, tenant, response.json()["id"]) == (200, data)
    assert sweeper.outcome() == 0


def test_the_sweep_deletes_unclaimed_blobs_and_renditions_and_keeps_claimed_ones(editor, tenant):
    kept = upload(editor, tenant, "kept.txt", b"a blob with renditions").json()
    blob = Blob.objects.get(tenant=tenant, sha256=kept["sha256"])
    claimed = rendition_key(blob, "thumbnail", "webp")
    put(claimed, b"a thumbnail")
    Rendition.objects.create(
        tenant=tenant, blob=blob, kind="thumbnail", format="webp", width=1, height=1, size=11, storage_key=claimed
    )
    unclaimed_of_live_blob = rendition_key(blob, "large", "webp")
    put(unclaimed_of_live_blob, b"no row for this one")
    # Processing that raced a purge: renditions written for a blob that is gone.
    gone = Blob(tenant=tenant, sha256=sha(b"purged content"))
    gone_renditions = [rendition_key(gone, kind, "webp") for kind in ("thumbnail", "medium")]
    for key in gone_renditions:
        put(key, b"rendition of purged content")
    orphan_blob = storage.blob_key(tenant.id, sha(b"failed upload"))
    put(orphan_blob, b"failed upload")

    assert orphan_sweep(older_than=timedelta(hours=1), tenant_ids=[tenant.id]) == 0  # all too young
    assert sweep(tenant.id) == 4
    assert tenant_objects(tenant) == [storage.blob_key(tenant.id, kept["sha256"])]
    assert tenant_objects(tenant, "renditions") == [claimed]


def test_the_sweep_deletes_staged_objects_of_uploads_no_longer_pending(editor, tenant, after_commit):
    done = start(editor, tenant, "done.txt", 4).json()
    post_to_s3(done, b"done")
    with after_commit():
        assert complete(editor, tenant, done["id"]).status_code == 201
    assert tenant_objects(tenant, "staging") == []
    # The presigned POST still works after completion: the bytes would stay for ever.
    post_to_s3(done, b"more")
    expired = start(editor, tenant, "expired.txt", 4).json()
    post_to_s3(expired, b"late")
    UploadSession.objects.filter(pk=expired["id"]).update(state=UploadState.EXPIRED)
    pending = start(editor, tenant, "pending.txt", 4).json()
    post_to_s3(pending, b"wait")
    put(storage.staging_key(tenant.id, uuid.uuid4()), b"no session")
    put(f"tenants/{tenant.id}/staging/not-an-id", b"no session either")

    assert sweep(tenant.id) == 4
    assert tenant_objects(tenant, "staging") == [storage.staging_key(tenant.id, pending["id"])]


def test_the_sweep_deletes_everything_of_a_tenant_that_was_deleted(editor, tenant):
    doomed = TenantFactory()
    gone = doomed.id
    keys = [
        storage.blob_key(gone, sha(b"x")),
        f"tenants/{gone}/renditions/ab/{sha(b'x')}/thumbnail.webp",
        storage.staging_key(gone, uuid.uuid4()),
    ]
    for key in keys:
        put(key, b"x")
    live = upload(editor, tenant, "live.txt", b"a live tenant's file").json()
    doomed.delete()

    assert sweep(gone) == 3
    assert list(storage.object_keys(f"tenants/{gone}/")) == []
    assert sweep(tenant.id) == 0
    assert downloaded(editor, tenant, live["id"]) == (200, b"a live tenant's file")


def test_the_sweep_leaves_alone_a_tenant_this_database_never_knew(editor, tenant):
    """Another deployment's objects, or a worker given the wrong database: nothing is deleted."""
    stranger = uuid.uuid4()
    key = storage.blob_key(stranger, sha(b"someone else's"))
    put(key, b"someone else's")
    assert sweep(stranger) == 0
    assert [obj["Key"] for obj in storage.object_keys(f"tenants/{stranger}/")] == [key]
    storage.object_delete(key)


def test_the_sweep_command_reports_its_progress(editor, tenant):
    put(storage.blob_key(tenant.id, sha(b"orphan")), b"orphan")
    out = StringIO()
    call_command("sweep_orphans", "--min-age-minutes=0", f"--tenant={tenant.id}", stdout=out)
    assert f"tenant {tenant.id}: 1 orphaned objects deleted so far" in out.getvalue()
    assert "Done: 1 orphaned objects deleted." in out.getvalue()
    assert tenant_objects(tenant) == []
