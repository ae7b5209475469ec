"""Tenant exports (issue 15 item 8): `POST exports/` makes, in the background, a ZIP of the
tenant's live files at their folder paths plus `manifest.json`, streamed to S3 and
downloadable for 7 days. The task's function runs here directly, against the real S3."""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import ActivityEvent, Role
from files import storage
from files.models import Blob, BlobTier, Export, ExportState, File
from files.services import export_archive, exports
from files.storage import multipart as s3_multipart
from mediaportal.exceptions import Conflict
from tests.factories import MembershipFactory
from tests.files.conftest import all_past, sha, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def t(tenant) -> str:
    return f"/api/v1/tenants/{tenant.slug}/"


def folder(client, tenant, name: str, parent=None) -> str:
    response = client.post(t(tenant) + "folders/", {"name": name, "parent": parent}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def stored(client, tenant, name: str, data: bytes, **fields) -> dict:
    response = upload(client, tenant, name, data, **fields)
    assert response.status_code == 201, response.content
    return response.json()


def exported(client, tenant) -> dict:
    """Start an export, run its task, and return the ready export's shape."""
    started = client.post(t(tenant) + "exports/")
    assert started.status_code == 202, started.content
    assert exports.export_run(export_id=started.json()["id"]) == "ready"
    return client.get(t(tenant) + f"exports/{started.json()['id']}/").json()


def unzipped(url: str) -> tuple[requests.Response, zipfile.ZipFile]:
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200, fetched.content[:300]
    return fetched, zipfile.ZipFile(io.BytesIO(fetched.content))


def manifest_of(archive: zipfile.ZipFile) -> dict:
    return json.loads(archive.read("manifest.json"))


def a_tenant_with_folders_versions_and_trash(owner, tenant) -> dict:
    """Photos/2024/beach.txt (two versions), Photos/plan.txt, readme.txt at the root, an
    empty folder; a trashed file and a trashed folder holding a file."""
    photos = folder(owner, tenant, "Photos")
    year = folder(owner, tenant, "2024", parent=photos)
    readme = stored(owner, tenant, "readme.txt", b"read me\n", tags=["docs"], description="Start here")
    beach = stored(owner, tenant, "beach.txt", b"sand v1\n", folder=year)
    second = owner.post(
        t(tenant) + f"files/{beach['id']}/versions/",
        {"file": SimpleUploadedFile("beach.txt", b"sand and sea v2\n"), "comment": "brighter"},
        format="multipart",
    )
    assert second.status_code == 201, second.content
    stored(owner, tenant, "plan.txt", b"the plan\n", folder=photos)
    gone = stored(owner, tenant, "gone.txt", b"trashed\n", folder=photos)
    assert owner.delete(t(tenant) + f"files/{gone['id']}/").status_code == 204
    empty = folder(owner, tenant, "Empty")
    old = folder(owner, tenant, "Old")
    stored(owner, tenant, "inside.txt", b"in a trashed folder\n", folder=old)
    assert owner.delete(t(tenant) + f"folders/{old}/").status_code == 204
    return {"readme": readme["id"], "empty": empty}


def test_an_owner_exports_every_live_file_at_its_path_with_a_manifest(owner, tenant):
    made = a_tenant_with_folders_versions_and_trash(owner, tenant)
    started = owner.post(t(tenant) + "exports/")
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["state"] == "pending" and body["download"] is None
    assert owner.get(t(tenant) + f"exports/{body['id']}/").json()["state"] == "pending"
    assert exports.export_run(export_id=body["id"]) == "ready"
    ready = owner.get(t(tenant) + f"exports/{body['id']}/").json()

    assert ready["state"] == "ready" and ready["file_count"] == 3 and not ready["expired"]
    export = Export.objects.get(pk=body["id"])
    assert export.expires_at - export.finished_at == timedelta(days=7)
    assert export.storage_key == f"tenants/{tenant.id}/exports/{export.pk}.zip"
    fetched, archive = unzipped(ready["download"])
    assert ready["size"] == len(fetched.content) == storage.object_head(export.storage_key)["ContentLength"]
    date = timezone.localdate(export.created_at).isoformat()
    assert f'filename="{tenant.slug}-export-{date}.zip"' in fetched.headers["Content-Disposition"]
    assert sorted(archive.namelist()) == [
        "Empty/",
        "Photos/",
        "Photos/2024/",
        "Photos/2024/beach.txt",
        "Photos/plan.txt",
        "manifest.json",
        "readme.txt",
    ]
    assert archive.read("Photos/2024/beach.txt") == b"sand and sea v2\n"  # the current version only
    manifest = check_manifest(owner, archive, readme_id=made["readme"])
    assert manifest["tenant"]["slug"] == tenant.slug
    verbs = ActivityEvent.objects.filter(tenant=tenant, target_id=str(export.pk)).values_list("verb", flat=True)
    assert sorted(verbs) == ["export.created", "export.ready"]


def check_manifest(owner, archive, *, readme_id) -> dict:
    manifest = manifest_of(archive)
    entries = {entry["path"]: entry for entry in manifest["files"]}
    assert set(entries) == {"readme.txt", "Photos/plan.txt", "Photos/2024/beach.txt"}
    for path, entry in entries.items():
        assert entry["sha256"] == sha(archive.read(path)) and entry["size"] == len(archive.read(path))
    assert entries["readme.txt"]["tags"] == ["docs"] and entries["readme.txt"]["description"] == "Start here"
    assert entries["readme.txt"]["id"] == readme_id and "metadata" in entries["readme.txt"]
    versions = entries["Photos/2024/beach.txt"]["versions"]
    assert [(v["number"], v["sha256"], v["size"], v["comment"]) for v in versions] == [
        (1, sha(b"sand v1\n"), 8, ""),
        (2, sha(b"sand and sea v2\n"), 16, "brighter"),
    ]
    assert {v["uploaded_by"] for v in versions} == {owner.user.username}
    assert manifest["folders"] == ["Empty/", "Photos/", "Photos/2024/"]
    return manifest


def test_names_in_the_zip_are_safe_and_unique(owner, tenant):
    reports = folder(owner, tenant, "Reports")
    made = {
        name: stored(owner, tenant, name, name.encode(), folder=reports)["id"]
        for name in ("one.txt", "two.txt", "three.txt", "four.txt")
    }
    stored(owner, tenant, "manifest.json", b"{}")
    stored(owner, tenant, "Reports", b"a file named as a folder")
    # Names cleaned when given cannot hold these; rows written before a rule could.
    File.objects.filter(pk=made["one.txt"]).update(name="../../etc/passwd")
    File.objects.filter(pk=made["two.txt"]).update(name="a/b.txt")
    File.objects.filter(pk=made["three.txt"]).update(name="a_b.txt")
    File.objects.filter(pk=made["four.txt"]).update(name="..")

    ready = exported(owner, tenant)
    _, archive = unzipped(ready["download"])
    names = sorted(archive.namelist())
    assert names == [
        "Reports (2)",
        "Reports/",
        "Reports/.._.._etc_passwd",
        "Reports/_",
        "Reports/a_b (2).txt",
        "Reports/a_b.txt",
        "manifest (2).json",
        "manifest.json",
    ]
    assert archive.read("manifest (2).json") == b"{}"
    paths = {entry["name"]: entry["path"] for entry in manifest_of(archive)["files"]}
    assert paths["a/b.txt"] != paths["a_b.txt"] and paths["../../etc/passwd"] == "Reports/.._.._etc_passwd"


def test_an_archived_file_is_read_from_the_archive_and_a_lost_one_is_listed(owner, tenant):
    cold = stored(owner, tenant, "cold.txt", b"in the archive bucket\n")
    lost = stored(owner, tenant, "lost.txt", b"nowhere any more\n")
    blob = Blob.objects.get(tenant=tenant, sha256=cold["sha256"])
    storage.object_copy(
        source_key=blob.storage_key,
        key=blob.storage_key,
        sha256=blob.sha256,
        content_type="text/plain",
        tenant_id=tenant.id,
        role="archive",
    )
    storage.object_delete(blob.storage_key)
    Blob.objects.filter(pk=blob.pk).update(tier=BlobTier.ARCHIVE, archived_at=timezone.now())
    storage.object_delete(Blob.objects.get(tenant=tenant, sha256=lost["sha256"]).storage_key)

    _, archive = unzipped(exported(owner, tenant)["download"])
    assert archive.read("cold.txt") == b"in the archive bucket\n"
    assert "lost.txt" not in archive.namelist()
    entries = {entry["path"]: entry for entry in manifest_of(archive)["files"]}
    assert entries["lost.txt"]["missing"] is True and entries["lost.txt"]["sha256"] == lost["sha256"]
    assert "missing" not in entries["cold.txt"] and "archived" not in entries["cold.txt"]


def test_members_who_are_not_owners_or_admins_are_refused(owner, tenant, member):
    stored(owner, tenant, "a.txt", b"a")
    export = owner.post(t(tenant) + "exports/").json()
    for role in (Role.EDITOR, Role.VIEWER):
        client = member(role)
        assert client.post(t(tenant) + "exports/").status_code == 403
        assert client.get(t(tenant) + "exports/").status_code == 403
        assert client.get(t(tenant) + f"exports/{export['id']}/").status_code == 404
        assert client.get(t(tenant) + f"exports/{export['id']}/download/").status_code == 404
    admin = member(Role.ADMIN)
    listed = admin.get(t(tenant) + "exports/").json()
    assert [item["id"] for item in listed["results"]] == [export["id"]] and listed["next"] is None
    assert admin.post(t(tenant) + "exports/").status_code == 409  # the owner's is still pending


def test_another_tenants_export_is_not_found(owner, tenant, outsider):
    export = owner.post(t(tenant) + "exports/").json()
    theirs = outsider.user.memberships.get().tenant
    assert outsider.get(t(theirs) + f"exports/{export['id']}/").status_code == 404
    assert outsider.get(t(theirs) + f"exports/{export['id']}/download/").status_code == 404
    assert outsider.get(t(tenant) + "exports/").status_code == 404
    assert outsider.post(t(tenant) + "exports/").status_code == 404


def test_one_export_at_a_time_per_tenant(owner, tenant):
    first = owner.post(t(tenant) + "exports/")
    refused = owner.post(t(tenant) + "exports/")
    assert refused.status_code == 409 and refused.json()["code"] == "export_running"
    assert refused.json()["export"] == first.json()["id"]
    # Another tenant is not held up.
    other = MembershipFactory(role=Role.OWNER)
    assert client_for(other.user).post(t(other.tenant) + "exports/").status_code == 202
    assert exports.export_run(export_id=first.json()["id"]) == "ready"
    assert exports.export_run(export_id=first.json()["id"]) == "skipped"  # delivered twice
    assert owner.post(t(tenant) + "exports/").status_code == 202


def test_a_lost_export_does_not_hold_the_tenant(owner, tenant):
    pending = Export.objects.get(pk=owner.post(t(tenant) + "exports/").json()["id"])
    Export.objects.filter(pk=pending.pk).update(created_at=timezone.now() - timedelta(hours=2))
    running = owner.post(t(tenant) + "exports/")
    assert running.status_code == 202
    # Running, but no worker holds its claim: the worker died.
    Export.objects.filter(pk=running.json()["id"]).update(state=ExportState.RUNNING)
    assert owner.post(t(tenant) + "exports/").status_code == 202
    assert Export.objects.get(pk=pending.pk).state == ExportState.FAILED
    assert Export.objects.get(pk=running.json()["id"]).state == ExportState.FAILED
    assert exports.export_run(export_id=pending.pk) == "skipped"


def test_expiry_deletes_the_zip_and_the_download_answers_410(owner, tenant):
    stored(owner, tenant, "a.txt", b"a")
    ready = exported(owner, tenant)
    url = t(tenant) + f"exports/{ready['id']}/"
    redirect = owner.get(url + "download/")
    assert redirect.status_code == 302 and redirect["Cache-Control"] == "no-store"
    assert requests.get(redirect["Location"], timeout=30).status_code == 200
    export = Export.objects.get(pk=ready["id"])
    assert exports.exports_expire() == 0
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert exports.exports_expire() == 1
    assert storage.object_head(export.storage_key) is None
    after = owner.get(url).json()
    assert after["state"] == "ready" and after["expired"] is True and after["download"] is None
    gone = owner.get(url + "download/")
    assert gone.status_code == 410 and gone.json()["code"] == "export_expired"
    assert exports.exports_expire() == 0


def test_a_download_before_ready_is_409(owner, tenant):
    export = owner.post(t(tenant) + "exports/").json()
    answer = owner.get(t(tenant) + f"exports/{export['id']}/download/")
    assert answer.status_code == 409 and answer.json()["code"] == "export_not_ready"


def test_a_failed_export_leaves_no_upload_behind(owner, tenant, monkeypatch):
    stored(owner, tenant, "a.txt", b"a")
    export = owner.post(t(tenant) + "exports/").json()

    def broken(**kwargs):
        kwargs["out"].write(b"x" * (9 * 1024 * 1024))  # one part sent, then trouble
        raise storage.StorageUnavailable()

    monkeypatch.setattr(exports, "archive_write", broken)
    assert exports.export_run(export_id=export["id"]) == "failed"
    failed = owner.get(t(tenant) + f"exports/{export['id']}/").json()
    assert failed["state"] == "failed" and re.search("storage was unavailable", failed["error"])
    key = exports.export_key(tenant.id, export["id"])
    assert list(s3_multipart.uploads(key)) == [] and storage.object_head(key) is None


def test_part_sizes_keep_big_exports_within_s3s_part_limit():
    assert export_archive.READ_CHUNK < exports.part_bytes_for(0) == 8 * 2**20
    assert exports.part_bytes_for(10 * 2**40) * 9_000 >= 10 * 2**40


@pytest.mark.django_db(transaction=True)
def test_two_exports_started_at_once_make_one(tenant, monkeypatch):
    membership = MembershipFactory(tenant=tenant, role=Role.OWNER)

    def start() -> str:
        try:
            exports.export_create(membership=membership)
        except Conflict as exc:
            return exc.code
        return "started"

    # Both get past the permission check before either looks for a running export.
    assert sorted(all_past(monkeypatch, exports, "can_export", start, start)) == ["export_running", "started"]
    assert Export.objects.filter(tenant=tenant).count() == 1
