"""The integrity scrub (files.services.scrub, `manage.py scrub`, the weekly task): every copy
re-hashed, a missing or damaged one rewritten from an intact copy, a blob with none left
flagged for admins, once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import ActivityEvent, Role
from files import storage
from files.models import Blob, File, Rendition
from files.services import replication
from files.services.processing_run import file_process
from files.storage.transfer import object_fetch
from files.tasks import integrity_scrub
from tests.conftest import blob_of, run_queued
from tests.factories import MembershipFactory, TenantFactory
from tests.files.conftest import sha
from tests.files.test_replication import PHOTO
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def scrub(*args: str) -> tuple[int, str]:
    """Run `manage.py scrub`; its exit status and output."""
    out = StringIO()
    try:
        call_command("scrub", *args, stdout=out)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + str(exc)
    return 0, out.getvalue()


def overwrite(key: str, data: bytes, role: str = "primary") -> None:
    """Other bytes under the key, with metadata that matches them (what bit rot or a stray
    writer leaves: nothing but a re-hash against the row tells)."""
    storage.object_put(key=key, body=data, sha256=sha(data), content_type="text/plain", role=role)


def replicated(uploaded, queued, name: str, data: bytes, **kwargs) -> tuple[dict, Blob]:
    file = uploaded(name, data, **kwargs)
    run_queued(queued, "files.replicate_blob")
    blob = blob_of(file)
    assert blob.replicated_at is not None
    return file, blob


def events(verb: str, file: dict) -> int:
    return ActivityEvent.objects.filter(verb=verb, target_id=file["id"]).count()


def test_intact_objects_are_verified_with_a_progress_bar(tenant, queued, uploaded):
    _file, blob = replicated(uploaded, queued, "a.txt", b"all is well")
    status, out = scrub(f"--tenant={tenant.slug}")
    assert status == 0, out
    assert "scrub [" in out and "1 intact" in out and "Done: nothing is lost." in out
    blob.refresh_from_db()
    assert blob.verified_at is not None and blob.integrity_lost_at is None


def test_a_missing_primary_object_is_reported_then_restored_from_the_replica(editor, tenant, queued, uploaded):
    file, blob = replicated(uploaded, queued, "a.txt", b"restored from the replica")
    # Another file using the same bytes: each file gets its event.
    twin = uploaded("twin.txt", b"restored from the replica")
    storage.object_delete(blob.storage_key)

    status, out = scrub(f"--tenant={tenant.slug}")
    assert status == 1 and "unrepaired" in out and blob.sha256 in out
    assert storage.object_head(blob.storage_key) is None  # a report only

    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    assert "1 repaired" in out
    assert object_fetch(blob.storage_key, role="primary") == blob.sha256
    assert events("integrity_repaired", file) == 1 and events("integrity_repaired", twin) == 1
    download = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/download/")
    assert download.status_code == 302


def test_an_overwritten_primary_object_is_detected_and_repaired(tenant, queued, uploaded):
    file, blob = replicated(uploaded, queued, "a.txt", b"the bytes acknowledged")
    overwrite(blob.storage_key, b"other bytes, same key")
    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    assert object_fetch(blob.storage_key, role="primary") == blob.sha256
    assert events("integrity_repaired", file) == 1
    event = ActivityEvent.objects.get(verb="integrity_repaired", target_id=file["id"])
    assert event.data["repaired"] == ["primary"] and event.data["source"] == "replica"


def test_a_missing_or_damaged_replica_copy_is_rewritten_from_the_primary(tenant, queued, uploaded):
    _gone, gone = replicated(uploaded, queued, "gone.txt", b"replica copy deleted")
    _bad, bad = replicated(uploaded, queued, "bad.txt", b"replica copy damaged")
    storage.object_delete(gone.storage_key, "replica")
    overwrite(bad.storage_key, b"rot", role="replica")
    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    for blob in (gone, bad):
        assert object_fetch(blob.storage_key, role="replica") == blob.sha256


def test_with_no_intact_copy_the_file_is_flagged_lost_once(owner, editor, tenant, queued, uploaded, admin_client):
    file, blob = replicated(uploaded, queued, "lost.txt", b"gone from both regions")
    kept = uploaded("kept.txt", b"still fine")
    storage.object_delete(blob.storage_key)
    overwrite(blob.storage_key, b"rot", role="replica")

    for _week in range(2):
        status, out = scrub(f"--tenant={tenant.slug}", "--repair")
        assert status == 1 and "1 lost" in out
    assert events("integrity_lost", file) == 1
    blob.refresh_from_db()
    assert blob.integrity_lost_at is not None

    # The API says so, and owners and admins can list such files.
    url = f"/api/v1/tenants/{tenant.slug}/files/"
    assert editor.get(f"{url}{file['id']}/").json()["integrity_lost"] is True
    assert editor.get(f"{url}{kept['id']}/").json()["integrity_lost"] is False
    listed = owner.get(url, {"integrity": "lost"})
    assert listed.status_code == 200 and [f["id"] for f in listed.json()["results"]] == [file["id"]]
    assert editor.get(url, {"integrity": "lost"}).status_code == 403
    assert owner.get(url, {"integrity": "intact"}).status_code == 400
    # So does the admin site.
    files_page = admin_client.get(reverse("admin:files_file_changelist"), {"integrity": "lost"})
    assert files_page.status_code == 200 and "lost.txt" in files_page.content.decode()
    assert "kept.txt" not in files_page.content.decode()
    blobs_page = admin_client.get(reverse("admin:files_blob_changelist"), {"integrity": "lost"})
    assert blob.sha256 in blobs_page.content.decode() and "Replication lag" in blobs_page.content.decode()

    # An intact copy put back (by an operator) ends it.
    storage.object_put(
        key=blob.storage_key, body=b"gone from both regions", sha256=blob.sha256, content_type="text/plain"
    )
    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    blob.refresh_from_db()
    assert blob.integrity_lost_at is None
    assert object_fetch(blob.storage_key, role="replica") == blob.sha256


def test_renditions_are_repaired_from_the_replica_or_made_again(
    editor, tenant, queued, uploaded, django_capture_on_commit_callbacks
):
    photo, _blob = replicated(uploaded, queued, "photo.jpg", PHOTO.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        assert file_process(file_id=photo["id"]) == "completed"
    run_queued(queued, "files.replicate_rendition")
    keys = sorted(set(Rendition.objects.filter(tenant=tenant).values_list("storage_key", flat=True)))
    assert len(keys) >= 2
    damaged, lost = keys[0], keys[1]
    rendition = Rendition.objects.filter(storage_key=damaged).first()
    overwrite(damaged, b"not a picture")
    storage.object_delete(lost)
    storage.object_delete(lost, "replica")

    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    assert object_fetch(damaged, role="primary") == rendition.sha256
    # No copy of the other left: processing makes every rendition again.
    assert ("files.process_file", [photo["id"], File.objects.get(pk=photo["id"]).current_version_id]) in queued
    assert File.objects.get(pk=photo["id"]).status == "pending"
    assert "1 renditions queued for processing" in out
    assert events("integrity_lost", photo) == 0


def test_an_archived_blob_is_checked_in_the_archive_bucket(tenant, queued, uploaded):
    _file, blob = replicated(uploaded, queued, "old.txt", b"archived")
    storage.object_put(
        key=blob.storage_key, body=b"archived", sha256=blob.sha256, content_type="text/plain", role="archive"
    )
    storage.object_delete(blob.storage_key)
    Blob.objects.filter(pk=blob.pk).update(tier="archive")
    assert scrub(f"--tenant={tenant.slug}")[0] == 0

    storage.object_delete(blob.storage_key, "archive")
    status, out = scrub(f"--tenant={tenant.slug}", "--repair")
    assert status == 0, out
    assert object_fetch(blob.storage_key, role="archive") == blob.sha256
    assert storage.object_head(blob.storage_key, "archive")["StorageClass"] in ("GLACIER", "STANDARD")
    assert storage.object_head(blob.storage_key) is None  # not brought back hot


def test_sample_checks_that_many_blobs_and_tenants_are_scrubbed_apart(tenant, queued, uploaded):
    for n in range(4):
        replicated(uploaded, queued, f"{n}.txt", f"file {n}".encode())
    other = TenantFactory()
    theirs_client = client_for(MembershipFactory(tenant=other, role=Role.EDITOR).user)
    _theirs, theirs = replicated(uploaded, queued, "theirs.txt", b"theirs", client=theirs_client, tenant_=other)
    storage.object_delete(theirs.storage_key)
    storage.object_delete(theirs.storage_key, "replica")

    status, out = scrub(f"--tenant={tenant.slug}", "--sample=2")
    assert status == 0 and "2 blobs" in out
    assert Blob.objects.filter(tenant=tenant, verified_at__isnull=False).count() == 2
    assert scrub(f"--tenant={tenant.slug}")[0] == 0  # their loss is not ours
    theirs.refresh_from_db()
    assert theirs.integrity_lost_at is None and theirs.verified_at is None
    assert scrub(f"--tenant={other.slug}")[0] == 1
    assert scrub("--tenant=nobody")[0] == 1


def test_the_weekly_task_repairs(tenant, queued, uploaded):
    assert replication.replication_lag_seconds() == 0
    _file, blob = replicated(uploaded, queued, "a.txt", b"repaired by the weekly task")
    storage.object_delete(blob.storage_key)
    result = integrity_scrub.apply().get()
    assert result["repaired"] >= 1 and result["lost"] == 0
    assert object_fetch(blob.storage_key, role="primary") == blob.sha256
