"""The replica region (files.services.replication): every blob and rendition copied there
after upload and processing, the reconcile catching up what was missed, downloads served
from it when the primary object is gone or wrong, and purges and the sweep cleaning it.

The test run's stack has the replica region as a second S3 server, so copies here cross
services (streamed and hashed) as they would between regions.
"""

from __future__ import annotations

import io
import time
import zipfile
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests
from celery import current_app
from django.conf import settings
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import ActivityEvent, Role
from files import storage
from files.models import Blob, File, Rendition
from files.services import replication
from files.services.orphans import orphan_sweep
from files.services.processing_run import file_process
from files.storage.transfer import object_fetch
from files.tasks import replicate_blob
from files.zipstream import zip_stream
from mediaportal.celery import app
from tests.conftest import blob_of, run_queued
from tests.factories import MembershipFactory, TenantFactory
from tests.files.conftest import CORPUS, sha
from tests.files.test_direct_upload import complete, post_to_s3, start
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

PHOTO = CORPUS / "photo_exif" / "Canon_40D.jpg"


def replica_sha(key: str) -> str | None:
    try:
        return object_fetch(key, role="replica")
    except Exception:  # noqa: BLE001 - missing
        return None


def keys(tenant, role: str) -> list[str]:
    return sorted(obj["Key"] for obj in storage.object_keys(f"tenants/{tenant.id}/", role))


# --- Copying ----------------------------------------------------------------------------------


def test_tasks_are_routed_and_scheduled():
    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    for name in ("files.replicate_blob", "files.replicate_rendition", "files.repair_blob"):
        assert queue_of(name) == "replication"
    assert queue_of("files.replication_reconcile") == "replication"
    assert queue_of("files.integrity_scrub") == "maintenance"


def test_the_replica_holds_every_blob_and_rendition_after_upload_and_processing(
    editor, tenant, queued, uploaded, django_capture_on_commit_callbacks
):
    photo = uploaded("photo.jpg", PHOTO.read_bytes())
    text = uploaded("notes.txt", b"plain words")
    blobs = [blob_of(photo), blob_of(text)]
    assert [item for item in queued if item[0] == "files.replicate_blob"] == [
        ("files.replicate_blob", [blob.pk]) for blob in blobs
    ]
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/").json()["replicated"] is False

    assert run_queued(queued, "files.replicate_blob") == ["replicated", "replicated"]
    for blob in blobs:
        blob.refresh_from_db()
        assert blob.replicated_at is not None and replica_sha(blob.storage_key) == blob.sha256
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/").json()["replicated"] is True
    # Delivered again (acks_late), it changes nothing.
    assert replicate_blob.apply(args=[blobs[0].pk]).get() == "already"

    with django_capture_on_commit_callbacks(execute=True):
        assert file_process(file_id=photo["id"]) == "completed"
    (rendition_task,) = [item for item in queued if item[0] == "files.replicate_rendition"]
    renditions = Rendition.objects.filter(blob=blobs[0])
    assert sorted(rendition_task[1][0]) == sorted(renditions.values_list("pk", flat=True))
    assert run_queued(queued, "files.replicate_rendition") == [str(len({r.storage_key for r in renditions}))]
    for rendition in renditions:
        rendition.refresh_from_db()
        assert rendition.replicated_at is not None
        assert replica_sha(rendition.storage_key) == rendition.sha256
    assert keys(tenant, "replica") == keys(tenant, "primary")


def test_a_direct_upload_is_replicated_too(editor, tenant, queued, django_capture_on_commit_callbacks):
    data = b"sent straight to S3"
    created = start(editor, tenant, "direct.txt", len(data)).json()
    post_to_s3(created, data)
    with django_capture_on_commit_callbacks(execute=True):
        assert complete(editor, tenant, created["id"]).status_code == 201
    blob = Blob.objects.get(tenant=tenant, sha256=sha(data))
    assert ("files.replicate_blob", [blob.pk]) in queued
    assert run_queued(queued, "files.replicate_blob") == ["replicated"]
    assert replica_sha(blob.storage_key) == blob.sha256


def test_a_broker_that_is_down_does_not_fail_the_upload_and_the_reconcile_copies_it(
    editor, tenant, monkeypatch, uploaded
):
    def broker_down(name, args=(), **kwargs):
        raise KombuOperationalError("broker unreachable")

    monkeypatch.setattr(current_app, "send_task", broker_down)
    monkeypatch.setattr(replication, "_broker_down_until", 0.0)
    file = uploaded("late.txt", b"copied by the reconcile")
    blob = blob_of(file)
    assert blob.replicated_at is None
    # A second upload within moments does not even try (no second timeout to wait for).
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: calls.append(name))
    uploaded("later.txt", b"not queued either")
    assert "files.replicate_blob" not in calls and "files.process_file" in calls

    # Too young for the reconcile: its task may still be on the way.
    assert replication.replication_reconcile()["blobs"] == 0
    Blob.objects.filter(tenant=tenant).update(created_at=timezone.now() - timedelta(hours=2))
    assert replication.replication_lag_seconds() >= 7200
    assert replication.replication_reconcile()["blobs"] == 2
    blob.refresh_from_db()
    assert blob.replicated_at is not None and replica_sha(blob.storage_key) == blob.sha256
    assert replication.replication_lag_seconds() == 0


def test_the_reconcile_is_bounded_per_run_and_copies_renditions(editor, tenant, queued, uploaded, caplog):
    files = [uploaded(f"{n}.txt", f"file number {n}".encode()) for n in range(3)]
    photo = uploaded("photo.jpg", PHOTO.read_bytes())
    assert file_process(file_id=photo["id"]) == "completed"
    Blob.objects.filter(tenant=tenant).update(created_at=timezone.now() - timedelta(hours=1))
    Rendition.objects.filter(tenant=tenant).update(created_at=timezone.now() - timedelta(hours=1))

    # Out of time (the task's budget, below the broker's visibility timeout): nothing more.
    late = replication.replication_reconcile(deadline=time.monotonic() - 1)
    assert (late["blobs"], late["renditions"], late["stopped"]) == (0, 0, True)
    with caplog.at_level("INFO", logger="files.services.replication"):
        first = replication.replication_reconcile(limit=2)
    assert (first["blobs"], first["stopped"]) == (2, False)
    assert "2 of 2 blobs done" in caplog.text
    second = replication.replication_reconcile(limit=100)
    assert second["blobs"] == 2 and second["renditions"] >= 1
    assert Blob.objects.filter(tenant=tenant, replicated_at__isnull=True).count() == 0
    assert Rendition.objects.filter(tenant=tenant, replicated_at__isnull=True).count() == 0
    assert keys(tenant, "replica") == keys(tenant, "primary")
    assert len(files) == 3


# --- Reading from the replica -----------------------------------------------------------------


def _download(client, tenant, file_id, **params) -> requests.Response:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/download/", params)
    assert response.status_code == 302, response.content
    return response


def _served_by(url: str) -> str:
    """Which region a signed URL points at (the two servers differ by port)."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    regions = {
        "{0.scheme}://{0.netloc}".format(urlsplit(settings.S3_REPLICA_PUBLIC_ENDPOINT_URL)): "replica",
        "{0.scheme}://{0.netloc}".format(
            urlsplit(settings.S3_PUBLIC_ENDPOINT_URL or settings.S3_ENDPOINT_URL)
        ): "primary",
    }
    assert len(regions) == 2 and origin in regions, (origin, regions)
    return regions[origin]


def test_with_the_primary_object_deleted_a_download_comes_from_the_replica_and_queues_a_repair(
    editor, tenant, queued, uploaded
):
    data = b"kept safe in two regions"
    file = uploaded("safe.txt", data)
    run_queued(queued, "files.replicate_blob")
    blob = blob_of(file)
    first = _download(editor, tenant, file["id"])["Location"]
    assert _served_by(first) == "primary"

    storage.object_delete(blob.storage_key)
    # The URL signed moments ago would be handed out again (files.presign): the HEAD before
    # signing sees the object gone and signs the replica's instead.
    url = _download(editor, tenant, file["id"])["Location"]
    assert _served_by(url) == "replica" and url != first
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    assert fetched.headers["Content-Disposition"].startswith("attachment;")
    assert [item for item in queued if item[0] == "files.repair_blob"] == [("files.repair_blob", [blob.pk])]
    _download(editor, tenant, file["id"])  # a second download queues no second repair
    assert len([item for item in queued if item[0] == "files.repair_blob"]) == 1

    assert run_queued(queued, "files.repair_blob") == ["repaired"]
    assert object_fetch(blob.storage_key, role="primary") == blob.sha256
    assert _served_by(_download(editor, tenant, file["id"])["Location"]) == "primary"
    events = ActivityEvent.objects.filter(verb="integrity_repaired", target_id=file["id"])
    assert events.count() == 1 and events.get().data["repaired"] == ["primary"]


def test_an_overwritten_primary_object_is_not_served(editor, tenant, queued, uploaded):
    data = b"the right bytes"
    file = uploaded("right.txt", data)
    run_queued(queued, "files.replicate_blob")
    blob = blob_of(file)
    wrong = b"the wrong bytes"
    storage.object_put(key=blob.storage_key, body=wrong, sha256=sha(wrong), content_type="text/plain")

    url = _download(editor, tenant, file["id"])["Location"]
    assert _served_by(url) == "replica" and requests.get(url, timeout=10).content == data
    assert run_queued(queued, "files.repair_blob") == ["repaired"]
    assert object_fetch(blob.storage_key, role="primary") == blob.sha256


def test_a_blob_not_yet_replicated_is_served_from_the_primary_without_a_head(editor, tenant, uploaded, monkeypatch):
    file = uploaded("fresh.txt", b"not copied yet")
    monkeypatch.setattr(replication, "object_probe", lambda *a, **kw: pytest.fail("no HEAD without a replica copy"))
    url = _download(editor, tenant, file["id"])["Location"]
    assert _served_by(url) == "primary" and requests.get(url, timeout=10).content == b"not copied yet"


def test_public_pages_zips_and_processing_read_the_replica_too(editor, tenant, queued, uploaded):
    photo = uploaded("photo.jpg", PHOTO.read_bytes())
    text = uploaded("notes.txt", b"zipped from the replica")
    run_queued(queued, "files.replicate_blob")
    for file in (photo, text):
        storage.object_delete(blob_of(file).storage_key)

    # A public file's page signs through the same function as members' downloads.
    public = editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{text['id']}/", {"visibility": "public"}, format="json")
    assert public.status_code == 200, public.content
    shared = Client().get(f"/p/{text['id']}/download")
    assert shared.status_code == 302 and _served_by(shared["Location"]) == "replica"
    assert requests.get(shared["Location"], timeout=10).content == b"zipped from the replica"

    files = list(File.objects.filter(tenant=tenant).select_related("current_version__blob", "folder").order_by("name"))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zip_stream(None, files))))
    assert archive.read("notes.txt") == b"zipped from the replica"
    assert archive.read("photo.jpg") == PHOTO.read_bytes()

    assert file_process(file_id=photo["id"]) == "completed"


# --- Purging every copy -----------------------------------------------------------------------


def test_a_purge_deletes_the_objects_in_every_role(editor, tenant, queued, uploaded, after_commit):
    photo = uploaded("photo.jpg", PHOTO.read_bytes())
    assert file_process(file_id=photo["id"]) == "completed"
    replication.blob_replicate(blob_id=blob_of(photo).pk)
    replication.renditions_replicate(rendition_ids=list(Rendition.objects.values_list("pk", flat=True)))
    archived = uploaded("old.txt", b"archived long ago")
    blob = blob_of(archived)
    replication.blob_replicate(blob_id=blob.pk)
    # As the archive sweep leaves it: in the archive bucket, gone from the primary.
    storage.object_put(
        key=blob.storage_key, body=b"archived long ago", sha256=blob.sha256, content_type="text/plain", role="archive"
    )
    storage.object_delete(blob.storage_key)
    Blob.objects.filter(pk=blob.pk).update(tier="archive", archived_at=timezone.now())
    assert keys(tenant, "replica") and keys(tenant, "archive")

    for file in (photo, archived):
        with after_commit():
            response = editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/?permanent=true")
        assert response.status_code == 204
    assert (keys(tenant, "primary"), keys(tenant, "archive"), keys(tenant, "replica")) == ([], [], [])


def test_the_sweep_removes_orphans_from_the_replica_and_the_archive(editor, tenant, queued, uploaded):
    kept = uploaded("kept.txt", b"claimed everywhere")
    run_queued(queued, "files.replicate_blob")
    blob = blob_of(kept)
    orphan = storage.blob_key(tenant.id, sha(b"purged while the replica was down"))
    orphan_rendition = f"tenants/{tenant.id}/renditions/ab/{sha(b'gone')}/thumbnail.webp"
    manifest = f"tenants/{tenant.id}/manifest.json"
    for role, key in (("replica", orphan), ("replica", orphan_rendition), ("archive", orphan), ("replica", manifest)):
        storage.object_put(key=key, body=b"x", sha256=sha(b"x"), content_type="text/plain", role=role)

    assert orphan_sweep(older_than=timedelta(0), tenant_ids=[tenant.id]) == 3
    assert keys(tenant, "replica") == sorted([blob.storage_key, manifest])
    assert keys(tenant, "archive") == []
    storage.object_delete(manifest, "replica")


# --- Tenants ----------------------------------------------------------------------------------


def test_a_tenants_copies_and_downloads_stay_its_own(editor, tenant, queued, uploaded):
    other = TenantFactory()
    mine = uploaded("mine.txt", b"same bytes in two tenants")
    theirs_client = client_for(MembershipFactory(tenant=other, role=Role.EDITOR).user)
    theirs = uploaded("theirs.txt", b"same bytes in two tenants", client=theirs_client, tenant_=other)
    run_queued(queued, "files.replicate_blob")
    mine_blob, theirs_blob = blob_of(mine), blob_of(theirs)
    assert mine_blob.pk != theirs_blob.pk and mine_blob.storage_key != theirs_blob.storage_key
    assert keys(tenant, "replica") == [mine_blob.storage_key]
    assert keys(other, "replica") == [theirs_blob.storage_key]

    # Their primary object gone: their download comes from their replica copy; ours is untouched.
    storage.object_delete(theirs_blob.storage_key)
    url = _download(theirs_client, other, theirs["id"])["Location"]
    assert _served_by(url) == "replica" and f"/tenants/{other.id}/" in url
    assert _served_by(_download(editor, tenant, mine["id"])["Location"]) == "primary"
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/{theirs['id']}/download/").status_code == 404
