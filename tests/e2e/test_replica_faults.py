"""One region stopped at a time, with the two regions as two SeaweedFS servers of this
module's own: with the replica down, uploads go on and replication catches up once it is
back; with the primary down, downloads come from the replica; a purge during a replica
outage leaves copies the sweep removes later."""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from files import storage
from files.models import Blob, File, Rendition
from files.services import replication
from files.services.orphans import orphan_sweep
from files.services.processing_run import file_process
from files.storage import failover
from files.storage.transfer import object_fetch
from files.tasks import replicate_blob
from files.zipstream import zip_stream
from mediaportal.embedded import EmbeddedStack
from tests.conftest import blob_of, run_queued
from tests.files.test_replication import PHOTO
from tests.files.test_scrub import scrub

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def regions(tmp_path_factory):
    """The primary region ("weed": primary and archive buckets) and the replica region
    ("weed-replica"), each a server of its own that a test may stop."""
    stack = EmbeddedStack(var_dir=tmp_path_factory.mktemp("regions"), log=lambda line: None)
    stack.start(postgres=False, redis=False, s3=True, replica=True)
    yield stack
    stack.stop()


@pytest.fixture
def two_regions(regions, settings):
    env = regions.env
    settings.S3_ENDPOINT_URL = settings.S3_PUBLIC_ENDPOINT_URL = env["S3_ENDPOINT_URL"]
    settings.S3_REPLICA_ENDPOINT_URL = settings.S3_REPLICA_PUBLIC_ENDPOINT_URL = env["S3_REPLICA_ENDPOINT_URL"]
    settings.S3_ACCESS_KEY_ID = settings.S3_REPLICA_ACCESS_KEY_ID = env["S3_ACCESS_KEY_ID"]
    settings.S3_SECRET_ACCESS_KEY = settings.S3_REPLICA_SECRET_ACCESS_KEY = env["S3_SECRET_ACCESS_KEY"]
    assert env["S3_REPLICA_ENDPOINT_URL"] != env["S3_ENDPOINT_URL"]
    yield regions
    for name in ("weed", "weed-replica"):  # what a test stopped runs again for the next
        try:
            regions.pid(name)
        except KeyError:
            regions.restart_s3(name)


def calls_to(role: str, client: str = "client") -> list[str]:
    """Records every S3 operation the role's storage sends from now on."""
    made: list[str] = []
    target = getattr(storage.bucket_storage(role), client)
    target.meta.events.register("before-call.s3", lambda model, **kw: made.append(model.name))
    return made


def keys(tenant, role: str) -> list[str]:
    return sorted(obj["Key"] for obj in storage.object_keys(f"tenants/{tenant.id}/", role))


def test_with_the_replica_stopped_uploads_succeed_and_replication_catches_up(
    editor, two_regions, tenant, queued, uploaded, caplog, django_capture_on_commit_callbacks
):
    doomed = uploaded("doomed.txt", b"purged while the replica is down")
    run_queued(queued, "files.replicate_blob")
    doomed_blob = blob_of(doomed)

    two_regions.stop_s3("weed-replica")
    replica_calls = calls_to("replica")
    photo = uploaded("photo.jpg", PHOTO.read_bytes())
    texts = [uploaded(f"{n}.txt", f"uploaded while the replica is down {n}".encode()) for n in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        assert file_process(file_id=photo["id"]) == "completed"
    # Nothing on the upload path (nor processing) talks to the replica region.
    assert replica_calls == []
    assert File.objects.filter(tenant=tenant).count() == 4

    # The copy tasks find the replica down: retried with backoff, then left to the reconcile.
    name, args = next(item for item in queued if item[0] == "files.replicate_blob")
    with caplog.at_level(logging.WARNING, logger="files.tasks"):
        gave_up = replicate_blob.apply(args=args, retries=replicate_blob.max_retries - 1).get()
    assert gave_up == "unavailable"
    retried = [record for record in caplog.records if hasattr(record, "countdown")]
    assert len(retried) == 1 and 1800 <= retried[0].countdown <= 1805  # 30 s doubling, at most 30 min
    queued.clear()
    Blob.objects.filter(tenant=tenant).update(created_at=timezone.now() - timedelta(hours=1))
    Rendition.objects.filter(tenant=tenant).update(created_at=timezone.now() - timedelta(hours=1))
    assert replication.replication_reconcile()["stopped"] is True
    assert replication.replication_lag_seconds() >= 3600

    # The scrub cannot read the replica copy: reported, not taken for a loss.
    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 1 and "1 unreadable" in out
    doomed_blob.refresh_from_db()
    assert doomed_blob.integrity_lost_at is None
    # A purge deletes what it can reach; the replica's copy is left for the sweep.
    with django_capture_on_commit_callbacks(execute=True):
        purged = editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{doomed['id']}/?permanent=true")
    assert purged.status_code == 204
    assert storage.object_head(doomed_blob.storage_key) is None

    two_regions.restart_s3("weed-replica")
    failover.role_answered("replica")
    outcome = replication.replication_reconcile()
    assert outcome["stopped"] is False and outcome["blobs"] == 3 and outcome["renditions"] >= 1
    assert replication.replication_lag_seconds() == 0
    assert not Rendition.objects.filter(tenant=tenant, replicated_at__isnull=True).exists()
    for file in (photo, *texts):
        blob = blob_of(file)
        assert object_fetch(blob.storage_key, role="replica") == blob.sha256
    assert doomed_blob.storage_key in keys(tenant, "replica")
    assert orphan_sweep(older_than=timedelta(0), tenant_ids=[tenant.id]) == 1
    assert keys(tenant, "replica") == keys(tenant, "primary")


def test_with_the_primary_stopped_downloads_come_from_the_replica(editor, two_regions, tenant, queued, uploaded):
    data = b"readable while the primary region is down"
    file = uploaded("safe.txt", data)
    other = uploaded("other.txt", b"in the same ZIP")
    run_queued(queued, "files.replicate_blob")
    url = f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/download/"

    two_regions.stop_s3("weed")
    try:
        heads = calls_to("primary", "probe_client")
        first = editor.get(url)
        assert first.status_code == 302
        assert first["Location"].startswith(two_regions.env["S3_REPLICA_ENDPOINT_URL"])
        assert requests.get(first["Location"], timeout=10).content == data
        # The primary is known down for a few seconds: the next download does not ask it.
        assert heads == ["HeadObject"]
        second = editor.get(url)
        assert second.status_code == 302 and heads == ["HeadObject"]
        assert second["Location"].startswith(two_regions.env["S3_REPLICA_ENDPOINT_URL"])
        # A region down is no reason to rewrite its objects.
        assert [item for item in queued if item[0] == "files.repair_blob"] == []

        files = list(File.objects.filter(tenant=tenant).select_related("current_version__blob", "folder"))
        archive = zipfile.ZipFile(io.BytesIO(b"".join(zip_stream(None, files))))
        assert archive.read("safe.txt") == data and archive.read("other.txt") == b"in the same ZIP"
        assert len(other) > 0
    finally:
        two_regions.restart_s3("weed")
    failover.role_answered("primary")
    assert editor.get(url)["Location"].startswith(two_regions.env["S3_ENDPOINT_URL"])
