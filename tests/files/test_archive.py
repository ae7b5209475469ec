"""The archive tier (files.services.lifecycle, files.services.retrieval): what is archived
when, what a download of it answers, how it comes back, and the races around it.

Timestamps are moved by updating rows; the objects are the real ones in the test run's S3
(the archive bucket beside the primary one, storage class GLACIER, which SeaweedFS keeps
and reads at once).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from io import StringIO

import pytest
import requests
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ActivityEvent, Membership, Role
from files import storage, tasks
from files.models import Blob, BlobTier, File, FileVersion
from files.services import lifecycle, retrieval
from files.services.lifecycle import archive_grace, archive_primaries_release, archive_sweep
from files.services.processing_run import file_process
from sharing.models import ShareLink
from tests.factories import MembershipFactory
from tests.files.conftest import CORPUS, InThread, sha, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

PHOTO = CORPUS / "photo_exif" / "Canon_40D.jpg"


def t(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


def age(file_ids, days: float, *, accessed: float | None = None) -> None:
    """Make the files (and their versions) `days` old, last touched `accessed` days ago, and
    processed (a file waiting for processing stays hot)."""
    then = timezone.now() - timedelta(days=days)
    touched = None if accessed is None else timezone.now() - timedelta(days=accessed)
    File.objects.filter(pk__in=file_ids).update(created_at=then, last_accessed_at=touched, status="completed")
    FileVersion.objects.filter(file_id__in=file_ids).update(created_at=then)


def blob_of(file_id, number: int | None = None) -> Blob:
    file = File.objects.get(pk=file_id)
    if number is None:
        return Blob.objects.get(pk=file.current_version.blob_id)
    return FileVersion.objects.get(file=file, number=number).blob


def held(blob: Blob, role: str) -> dict | None:
    return storage.object_head(blob.storage_key, role)


def past_grace(blob: Blob) -> None:
    Blob.objects.filter(pk=blob.pk).update(archived_at=timezone.now() - archive_grace() - timedelta(seconds=1))


def download(client, tenant, file_id, **params):
    return client.get(t(tenant, f"files/{file_id}/download/"), params)


def fetched(response) -> bytes:
    assert response.status_code == 302, response.content
    got = requests.get(response["Location"], timeout=10)
    assert got.status_code == 200, got.status_code
    return got.content


# --- Archiving and retrieving ---------------------------------------------------------------


def test_an_untouched_file_is_archived_its_thumbnail_loads_and_it_comes_back_identical(editor, tenant, after_commit):
    data = PHOTO.read_bytes()
    file = upload(editor, tenant, "old.jpg", data).json()
    assert file_process(file_id=file["id"]) == "completed"
    age([file["id"]], 100)

    with after_commit():
        summary = archive_sweep(tenant=tenant)
    assert (summary.archived, summary.files, summary.bytes) == (1, 1, len(data))
    blob = blob_of(file["id"])
    assert blob.tier == BlobTier.ARCHIVE and blob.archived_at is not None
    cold = held(blob, "archive")
    assert cold["StorageClass"] == "GLACIER" and cold["Metadata"]["sha256"] == sha(data)
    assert held(blob, "primary") is not None  # for the grace: URLs handed out just before still work
    assert ActivityEvent.objects.filter(verb="file.archived", target_id=file["id"]).count() == 1

    shape = editor.get(t(tenant, f"files/{file['id']}/")).json()
    assert shape["storage_tier"] == "archive" and shape["archived_at"]
    assert requests.get(shape["renditions"]["thumbnail"], timeout=10).status_code == 200
    refused = download(editor, tenant, file["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "file_archived"
    assert refused.json()["retrieve"] == {"method": "POST", "url": t(tenant, f"files/{file['id']}/retrieve/")}

    # After the grace the primary copy goes; the archive copy is the only one.
    assert archive_primaries_release(blob_ids=[blob.pk]) == 0
    past_grace(blob)
    assert archive_primaries_release(blob_ids=[blob.pk]) == 1
    assert held(blob, "primary") is None and held(blob, "archive") is not None
    assert requests.get(shape["renditions"]["thumbnail"], timeout=10).status_code == 200

    with after_commit():
        response = editor.post(t(tenant, f"files/{file['id']}/retrieve/"))
    assert response.status_code == 202 and response.json()["storage_tier"] == "hot"
    assert response.json()["archived_at"] is None
    assert hashlib.sha256(fetched(download(editor, tenant, file["id"]))).hexdigest() == sha(data)
    blob.refresh_from_db()
    assert blob.tier == BlobTier.HOT and held(blob, "archive") is None
    assert ActivityEvent.objects.filter(verb="file.retrieved", target_id=file["id"]).count() == 1
    asked = ActivityEvent.objects.get(verb="file.retrieval_requested", target_id=file["id"])
    assert asked.user == editor.user
    assert editor.post(t(tenant, f"files/{file['id']}/retrieve/")).status_code == 200


def test_while_a_restore_is_under_way_downloads_are_409_retrieving(editor, tenant, settings, monkeypatch):
    settings.ARCHIVE_RETRIEVE_INLINE = False  # as on AWS: the task does the copy
    file = upload(editor, tenant, "slow.txt", b"bytes behind a Glacier restore").json()
    age([file["id"]], 100)
    archive_sweep(tenant=tenant)
    past_grace(blob_of(file["id"]))
    archive_primaries_release(tenant=tenant)

    response = editor.post(t(tenant, f"files/{file['id']}/retrieve/"))
    assert response.status_code == 202 and response.json()["storage_tier"] == "retrieving"
    assert blob_of(file["id"]).retrieval_started_at is not None
    refused = download(editor, tenant, file["id"])
    assert refused.status_code == 409 and refused.json()["code"] == "file_retrieving"
    # Asked again while under way: nothing new starts.
    assert editor.post(t(tenant, f"files/{file['id']}/retrieve/")).status_code == 202

    # Glacier's answer "not ready yet" (SeaweedFS has no restores): the task polls again later.
    monkeypatch.setattr(retrieval, "archive_restore_request", lambda key, **kwargs: False)
    with pytest.raises(Retry):
        tasks.retrieve_blob(blob_of(file["id"]).pk)
    assert blob_of(file["id"]).tier == BlobTier.RETRIEVING
    monkeypatch.undo()
    assert tasks.retrieve_blob(blob_of(file["id"]).pk) == "hot"
    assert fetched(download(editor, tenant, file["id"])) == b"bytes behind a Glacier restore"


def test_old_versions_go_after_noncurrent_days_while_the_current_stays_hot(editor, tenant):
    tenant.archive_after_days, tenant.noncurrent_archive_days = 90, 30
    tenant.save()
    file = upload(editor, tenant, "plan.txt", b"first draft").json()
    upload(editor, tenant, "plan.txt", b"second draft", on_conflict="replace")
    age([file["id"]], 60, accessed=40)
    FileVersion.objects.filter(file_id=file["id"], number=2).update(created_at=timezone.now() - timedelta(days=40))

    assert archive_sweep(tenant=tenant).archived == 1
    assert blob_of(file["id"], 1).tier == BlobTier.ARCHIVE and blob_of(file["id"], 2).tier == BlobTier.HOT
    assert fetched(download(editor, tenant, file["id"])) == b"second draft"
    refused = download(editor, tenant, file["id"], version=1)
    assert refused.status_code == 409 and refused.json()["retrieve"]["body"] == {"version": 1}
    restore = editor.post(t(tenant, f"files/{file['id']}/versions/1/restore/"))
    assert restore.status_code == 409 and restore.json()["code"] == "file_archived"

    response = editor.post(t(tenant, f"files/{file['id']}/retrieve/"), {"version": 1}, format="json")
    assert response.status_code == 202 and blob_of(file["id"], 1).tier == BlobTier.HOT
    assert fetched(download(editor, tenant, file["id"], version=1)) == b"first draft"


def test_bytes_shared_with_a_recent_file_stay_hot(editor, tenant):
    data = b"the same bytes in two files"
    old = upload(editor, tenant, "old.txt", data).json()
    recent = upload(editor, tenant, "recent.txt", data).json()
    age([old["id"]], 100)
    assert archive_sweep(tenant=tenant).archived == 0
    assert blob_of(old["id"]).tier == BlobTier.HOT

    age([recent["id"]], 95)  # trashed files count like live ones
    editor.delete(t(tenant, f"files/{recent['id']}/"))
    summary = archive_sweep(tenant=tenant)
    assert (summary.archived, summary.files) == (1, 2)
    assert blob_of(old["id"]).tier == BlobTier.ARCHIVE


def test_what_is_never_archived(editor, tenant):
    tenant.archive_after_days = None  # never, for current versions
    tenant.save()
    kept = upload(editor, tenant, "kept.txt", b"kept hot by the setting").json()
    age([kept["id"]], 1000)
    touched = upload(editor, tenant, "touched.txt", b"downloaded last week").json()
    age([touched["id"]], 1000, accessed=7)
    assert archive_sweep(tenant=tenant).archived == 0
    # --older-than-days replaces the settings: the operator asked for it.
    pending = upload(editor, tenant, "pending.txt", b"waiting for processing").json()
    age([pending["id"]], 1000)
    File.objects.filter(pk=pending["id"]).update(status="pending")
    assert archive_sweep(tenant=tenant, older_than_days=30).archived == 1
    assert blob_of(kept["id"]).tier == BlobTier.ARCHIVE and blob_of(touched["id"]).tier == BlobTier.HOT
    assert blob_of(pending["id"]).tier == BlobTier.HOT


def test_a_dry_run_changes_nothing_and_a_second_run_finds_nothing(editor, tenant):
    file = upload(editor, tenant, "a.txt", b"an old file").json()
    age([file["id"]], 100)
    summary = archive_sweep(tenant=tenant, dry_run=True)
    blob = blob_of(file["id"])
    assert (summary.archived, summary.files, summary.dry_run) == (1, 1, True)
    assert blob.tier == BlobTier.HOT and held(blob, "archive") is None
    assert not ActivityEvent.objects.filter(verb="file.archived").exists()

    assert archive_sweep(tenant=tenant).archived == 1
    again = archive_sweep(tenant=tenant)
    assert (again.archived, again.examined) == (0, 0)
    assert blob_of(file["id"]).tier == BlobTier.ARCHIVE and held(blob, "archive") is not None
    assert ActivityEvent.objects.filter(verb="file.archived").count() == 1


def test_reads_that_need_the_bytes_refuse_while_renditions_still_load(editor, tenant):
    file = upload(editor, tenant, "doc.txt", b"archived text").json()
    age([file["id"]], 100)
    archive_sweep(tenant=tenant)
    reprocess = editor.post(t(tenant, f"files/{file['id']}/reprocess/"))
    assert reprocess.status_code == 409 and reprocess.json()["code"] == "file_archived"
    assert File.objects.get(pk=file["id"]).status == "completed"


def test_uploading_archived_bytes_again_makes_them_hot(editor, tenant, after_commit):
    data = b"bytes archived, then uploaded again"
    old = upload(editor, tenant, "old.txt", data).json()
    age([old["id"]], 100)
    archive_sweep(tenant=tenant)
    blob = blob_of(old["id"])
    past_grace(blob)
    archive_primaries_release(tenant=tenant)
    assert held(blob, "primary") is None

    with after_commit():
        new = upload(editor, tenant, "new.txt", data).json()
    assert new["storage_tier"] == "hot" and blob_of(new["id"]).pk == blob.pk
    assert held(blob, "primary") is not None and held(blob, "archive") is None
    assert fetched(download(editor, tenant, old["id"])) == data


def test_a_folder_retrieve_brings_back_what_the_caller_sees_under_it(editor, tenant, member):
    folder = editor.post(t(tenant, "folders/"), {"name": "Old"}, format="json").json()
    sub = editor.post(t(tenant, "folders/"), {"name": "Deeper", "parent": folder["id"]}, format="json").json()
    files = [
        upload(editor, tenant, "a.txt", b"a in the folder", folder=folder["id"]).json(),
        upload(editor, tenant, "b.txt", b"b in a subfolder", folder=sub["id"]).json(),
        upload(editor, tenant, "c.txt", b"c at the top").json(),
    ]
    age([f["id"] for f in files], 100)
    archive_sweep(tenant=tenant)

    response = editor.post(t(tenant, f"folders/{folder['id']}/retrieve/"))
    assert response.status_code == 202 and response.json() == {"retrieving": 2}
    tiers = [blob_of(f["id"]).tier for f in files]
    assert tiers == [BlobTier.RETRIEVING, BlobTier.RETRIEVING, BlobTier.ARCHIVE]
    for file in files[:2]:
        assert tasks.retrieve_blob(blob_of(file["id"]).pk) == "hot"
    assert fetched(download(editor, tenant, files[1]["id"])) == b"b in a subfolder"
    assert editor.post(t(tenant, f"folders/{folder['id']}/retrieve/")).json() == {"retrieving": 0}

    viewer = member(Role.VIEWER)  # may download, so may retrieve
    assert viewer.post(t(tenant, f"files/{files[2]['id']}/retrieve/")).status_code == 202


def test_another_tenants_files_and_folders_are_404(editor, tenant, outsider):
    folder = editor.post(t(tenant, "folders/"), {"name": "Private"}, format="json").json()
    file = upload(editor, tenant, "a.txt", b"theirs", folder=folder["id"]).json()
    age([file["id"]], 100)
    other = MembershipFactory(role=Role.OWNER).tenant
    assert archive_sweep(tenant=other).archived == 0
    archive_sweep(tenant=tenant)
    own = Membership.objects.get(user=outsider.user).tenant
    assert outsider.post(t(own, f"files/{file['id']}/retrieve/")).status_code == 404
    assert outsider.post(t(tenant, f"files/{file['id']}/retrieve/")).status_code == 404
    assert outsider.post(t(tenant, f"folders/{folder['id']}/retrieve/")).status_code == 404
    assert blob_of(file["id"]).tier == BlobTier.ARCHIVE


def test_tenant_settings_take_never_and_zero(owner, tenant):
    patch = lambda **data: owner.patch(t(tenant), data, format="json")  # noqa: E731
    assert patch(archive_after_days=None).json()["archive_after_days"] is None
    assert patch(noncurrent_archive_days=0).json()["noncurrent_archive_days"] == 0
    assert patch(archive_after_days=0).status_code == 400
    assert patch(noncurrent_archive_days=-1).status_code == 400
    assert patch(archive_after_days=30).json()["archive_after_days"] == 30


# --- Races ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_download_signed_while_the_file_is_archived_gets_its_bytes(editor, tenant, monkeypatch):
    """The download reads the tier (hot), the sweep archives the file and commits, then the
    download signs its URL: the object is still in the primary for the grace."""
    data = b"downloaded at the very moment it is archived"
    file = upload(editor, tenant, "race.txt", data).json()
    age([file["id"]], 100)
    real_presign = storage.presigned_get

    def archived_meanwhile(**kwargs):
        sweeper = InThread(lambda: archive_sweep(tenant=tenant))
        sweeper.start()
        assert sweeper.outcome().archived == 1
        return real_presign(**kwargs)

    monkeypatch.setattr(storage, "presigned_get", archived_meanwhile)
    response = download(editor, tenant, file["id"])
    monkeypatch.undo()
    assert blob_of(file["id"]).tier == BlobTier.ARCHIVE
    assert archive_primaries_release(tenant=tenant) == 0  # within the grace
    assert fetched(response) == data


@pytest.mark.django_db(transaction=True)
def test_a_purge_while_the_bytes_are_copied_leaves_no_row_and_no_object(editor, tenant, monkeypatch):
    data = b"purged while being archived"
    file = upload(editor, tenant, "gone.txt", data).json()
    age([file["id"]], 100)
    key = storage.blob_key(tenant.id, sha(data))
    real_copy = lifecycle._copy_to_archive

    def purged_after_the_copy(**kwargs):
        copied = real_copy(**kwargs)
        assert storage.object_head(key, "archive") is not None
        purge = InThread(lambda: client_for(editor.user).delete(t(tenant, f"files/{file['id']}/?permanent=true")))
        purge.start()
        assert purge.outcome().status_code == 204
        return copied

    monkeypatch.setattr(lifecycle, "_copy_to_archive", purged_after_the_copy)
    summary = archive_sweep(tenant=tenant)
    assert (summary.archived, summary.failed) == (0, [])
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert storage.object_head(key, "primary") is None and storage.object_head(key, "archive") is None


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_archive_each_blob_once(editor, tenant):
    files = [upload(editor, tenant, f"{n}.txt", f"file {n}".encode()).json() for n in range(6)]
    age([f["id"] for f in files], 100)
    start = threading.Barrier(2)

    def sweep():
        start.wait(10)
        return archive_sweep(tenant=tenant, batch=2).archived

    sweeps = [InThread(sweep) for _ in range(2)]
    for each in sweeps:
        each.start()
    assert sum(each.outcome() for each in sweeps) == 6
    assert ActivityEvent.objects.filter(verb="file.archived").count() == 6
    assert all(held(blob_of(f["id"]), "archive") is not None for f in files)


def test_with_storage_down_the_sweep_stops_and_archives_nothing(editor, tenant, settings):
    file = upload(editor, tenant, "a.txt", b"kept hot while S3 is away").json()
    age([file["id"]], 100)
    # Nothing listens there: the primary and archive buckets are away, as in an outage.
    settings.S3_ENDPOINT_URL, settings.S3_MAX_ATTEMPTS, settings.S3_CONNECT_TIMEOUT = "http://127.0.0.1:9", 1, 1
    with pytest.raises(storage.StorageUnavailable):
        archive_sweep(tenant=tenant)
    assert blob_of(file["id"]).tier == BlobTier.HOT


# --- The command ----------------------------------------------------------------------------


def test_the_command_shows_progress_and_what_it_did(editor, tenant):
    files = [upload(editor, tenant, f"{n}.txt", f"command file {n}".encode()).json() for n in range(3)]
    age([f["id"] for f in files[:2]], 10)
    out = StringIO()
    call_command("archive_sweep", "--tenant", tenant.slug, "--older-than-days", "5", "--dry-run", stdout=out)
    assert "archive sweep [" in out.getvalue() and "3/3" in out.getvalue()
    assert "Would archive 2 blobs (2 files" in out.getvalue()
    assert not Blob.objects.filter(tenant=tenant, tier=BlobTier.ARCHIVE).exists()

    out = StringIO()
    call_command("archive_sweep", "--tenant", tenant.slug, "--older-than-days", "5", stdout=out)
    assert "Archived 2 blobs (2 files" in out.getvalue() and "of 3 examined" in out.getvalue()
    assert Blob.objects.filter(tenant=tenant, tier=BlobTier.ARCHIVE).count() == 2
    with pytest.raises(CommandError, match="No tenant"):
        call_command("archive_sweep", "--tenant", "nobody-here", stdout=StringIO())


def test_the_retrieve_task_stops_when_the_blob_was_purged(editor, tenant, settings):
    settings.ARCHIVE_RETRIEVE_INLINE = False
    file = upload(editor, tenant, "purged.txt", b"purged before its retrieval ran").json()
    age([file["id"]], 100)
    archive_sweep(tenant=tenant)
    editor.post(t(tenant, f"files/{file['id']}/retrieve/"))
    blob_id = blob_of(file["id"]).pk
    editor.delete(t(tenant, f"files/{file['id']}/?permanent=true"))
    assert tasks.retrieve_blob(blob_id) == "gone"


def test_a_version_upload_touches_the_file(editor, tenant):
    file = upload(editor, tenant, "v.txt", b"one").json()
    age([file["id"]], 100)
    version = SimpleUploadedFile("v.txt", b"two")
    editor.post(t(tenant, f"files/{file['id']}/versions/"), {"file": version}, format="multipart")
    assert File.objects.get(pk=file["id"]).last_accessed_at > timezone.now() - timedelta(minutes=1)
    assert archive_sweep(tenant=tenant).archived == 0  # v1 is noncurrent since just now


# --- The portal and public links ------------------------------------------------------------


def archived_file(editor, tenant, name: str, data: bytes, **fields) -> dict:
    file = upload(editor, tenant, name, data, **fields).json()
    age([file["id"]], 100)
    archive_sweep(tenant=tenant)
    return file


def signed_in(client) -> Client:
    web = Client()
    web.force_login(client.user)
    return web


def test_the_portal_shows_the_tier_explains_a_refused_download_and_retrieves(editor, tenant, after_commit):
    file = archived_file(editor, tenant, "scan.txt", b"an archived scan")
    web = signed_in(editor)
    grid = web.get(f"/t/{tenant.slug}/").content.decode()
    assert '<span class="badge archived">Archived</span>' in grid and 'aria-label="Retrieve scan.txt"' in grid
    page = web.get(f"/t/{tenant.slug}/files/{file['id']}/").content.decode()
    assert "Archived" in page and ">Retrieve</button>" in page

    refused = web.get(f"/t/{tenant.slug}/files/{file['id']}/download/", follow=True)
    assert refused.redirect_chain == [(f"/t/{tenant.slug}/files/{file['id']}/", 302)]
    assert "“scan.txt” is archived" in refused.content.decode()

    with after_commit():
        back = web.post(f"/t/{tenant.slug}/files/{file['id']}/retrieve/", {"back": "folder"}, follow=True)
    assert back.redirect_chain == [(f"/t/{tenant.slug}/", 302)]
    assert "“scan.txt” is back from the archive" in back.content.decode()
    downloaded = web.get(f"/t/{tenant.slug}/files/{file['id']}/download/")
    assert requests.get(downloaded["Location"], timeout=10).content == b"an archived scan"


def test_a_zip_with_archived_files_is_refused_naming_them(editor, tenant):
    archived = archived_file(editor, tenant, "cold.txt", b"cold bytes")
    hot = upload(editor, tenant, "hot.txt", b"hot bytes").json()
    web = signed_in(editor)
    response = web.post(
        f"/t/{tenant.slug}/browse/bulk/", {"action": "zip", "ids": [archived["id"], hot["id"]]}, follow=True
    )
    assert response["Content-Type"].startswith("text/html")
    assert "1 of these files is archived: “cold.txt”. Retrieve it first" in response.content.decode()


def test_share_links_to_archived_files_say_so_and_count_nothing(editor, tenant):
    folder = editor.post(t(tenant, "folders/"), {"name": "Shared"}, format="json").json()
    file = archived_file(editor, tenant, "old.txt", b"shared, then archived", folder=folder["id"])
    file_link = editor.post(t(tenant, "shares/"), {"file": file["id"], "max_downloads": 1}, format="json").json()
    folder_link = editor.post(t(tenant, "shares/"), {"folder": folder["id"]}, format="json").json()
    visitor = Client()

    for url in (
        f"/s/{file_link['token']}/download",
        f"/s/{folder_link['token']}/files/{file['id']}/download",
        f"/s/{folder_link['token']}/zip",
    ):
        response = visitor.get(url)
        assert response.status_code == 409 and "in the archive" in response.content.decode(), url
        assert "“old.txt”" in response.content.decode()
    assert ShareLink.objects.get(pk=file_link["id"]).download_count == 0

    editor.post(t(tenant, f"files/{file['id']}/retrieve/"))
    assert visitor.get(f"/s/{file_link['token']}/download").status_code == 302
    fresh = upload(editor, tenant, "fresh.txt", b"never downloaded yet", folder=folder["id"]).json()
    assert visitor.get(f"/s/{folder_link['token']}/zip").status_code == 200
    assert File.objects.get(pk=fresh["id"]).last_accessed_at is not None  # a ZIP's download touches
