"""The bucket describes itself: each tenant's manifest object, and a tenant rebuilt from it
(and from the objects it finds) once its rows are gone."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import DeletedTenant, Membership, Role, Tenant, TenantGroup, TenantUsage, User
from files import storage
from files.models import File, FileStatus, FileVersion, Folder, Rendition
from files.services import bucket_restore
from files.services.manifests import manifest_key, manifest_records, manifests_write
from files.services.processing_run import file_process
from tests.factories import MembershipFactory
from tests.files.conftest import sha, upload
from tests.helpers import CORPUS
from tests.snapshots import tenant_snapshot, usage_and_stored

pytestmark = pytest.mark.django_db(transaction=True)

PHOTO = CORPUS / "image_formats" / "hopper.webp"
TEXT = CORPUS / "text" / "crazyones.txt"


def _post(client, tenant, path: str, body: dict) -> dict:
    answer = client.post(f"/api/v1/tenants/{tenant.slug}/{path}", body, format="json")
    assert answer.status_code == 201, answer.content
    return answer.json()


def build(owner, editor, tenant) -> dict:
    """Folders (nested, one trashed), files with tags, a description, versions, a processed
    photo (renditions, labels) and text, a trashed file, a group."""
    base = f"/api/v1/tenants/{tenant.slug}/"
    photos = _post(owner, tenant, "folders/", {"name": "Photos"})
    year = _post(owner, tenant, "folders/", {"name": "2024", "parent": photos["id"]})
    old = _post(owner, tenant, "folders/", {"name": "Old"})
    photo = upload(editor, tenant, "hopper.webp", PHOTO.read_bytes(), folder=year["id"]).json()
    text = upload(editor, tenant, "crazyones.txt", TEXT.read_bytes(), folder=photos["id"]).json()
    note = upload(owner, tenant, "note.txt", b"first words").json()
    upload(owner, tenant, "gone.txt", b"in the trash", folder=old["id"])
    second = SimpleUploadedFile("note.txt", b"second words", content_type="text/plain")
    owner.post(base + f"files/{note['id']}/versions/", {"file": second}, format="multipart")
    owner.patch(base + f"files/{note['id']}/", {"tags": ["plan", "q3"], "description": "The plan."}, format="json")
    assert owner.delete(base + f"folders/{old['id']}/").status_code in (200, 204)
    for file_id in (photo["id"], text["id"], note["id"]):
        assert file_process(file_id=file_id) == FileStatus.COMPLETED
    _post(owner, tenant, "groups/", {"name": "Design", "members": [str(editor.user.pk)]})
    return {"photo": photo["id"], "text": text["id"], "note": note["id"]}


def forget(tenant) -> None:
    """The database loses the tenant, its members' accounts and groups."""
    users = list(Membership.objects.filter(tenant=tenant).values_list("user_id", flat=True))
    groups = list(TenantGroup.objects.filter(tenant=tenant).values_list("group_id", flat=True))
    # Versions first: they protect their blobs, which the tenant's deletion takes along.
    File.objects.filter(tenant=tenant).update(current_version=None)
    FileVersion.objects.filter(tenant=tenant).delete()
    Tenant.objects.filter(pk=tenant.pk).delete()
    DeletedTenant.objects.filter(pk=tenant.pk).delete()
    TenantUsage.objects.filter(tenant_id=tenant.pk).delete()
    Group.objects.filter(pk__in=groups).delete()
    User.objects.filter(pk__in=users).delete()


def manifest_of(tenant, role: str = "primary") -> bytes:
    return b"".join(storage.object_open(manifest_key(tenant.pk), role=role).chunks)


def no_progress(label: str, total: int):
    return lambda note: None


def test_the_manifest_describes_the_tenant_in_both_regions(owner, editor, tenant):
    ids = build(owner, editor, tenant)
    assert manifests_write() == {"written": 1, "unchanged": 0, "failed": 0}
    data = manifest_of(tenant)
    assert manifest_of(tenant, "replica") == data
    head = storage.object_head(manifest_key(tenant.pk))
    assert head["Metadata"] == {"sha256": sha(data), "tenant": str(tenant.pk)}
    whole = json.loads(data)  # valid JSON, and a stream of one record per line
    streamed = {}
    for section, record in manifest_records(data.splitlines(keepends=True)):
        streamed.setdefault(section, []).append(record)
    assert streamed["files"] == whole["files"] and streamed["folders"] == whole["folders"]
    assert whole["tenant"]["slug"] == tenant.slug
    assert {(m["username"], m["email"], m["role"]) for m in whole["members"]} == {
        (owner.user.username, owner.user.email, Role.OWNER),
        (editor.user.username, editor.user.email, Role.EDITOR),
    }
    assert whole["groups"][0]["name"] == "Design" and whole["groups"][0]["members"] == [editor.user.username]
    assert sorted(f["path"].split(":", 1)[-1] for f in whole["folders"]) == ["/Old/", "/Photos/", "/Photos/2024/"]
    note = next(f for f in whole["files"] if f["id"] == ids["note"])
    assert note["tags"] == ["plan", "q3"] and note["description"] == "The plan." and note["current"] == 2
    assert [v["sha256"] for v in note["versions"]] == [sha(b"first words"), sha(b"second words")]
    assert next(f for f in whole["files"] if f["id"] == ids["text"])["text"] is True
    assert {r["blob"] for r in whole["renditions"]} == {sha(PHOTO.read_bytes())}
    assert all(b["tier"] == "hot" for b in whole["blobs"])


def test_an_unchanged_manifest_is_not_written_again(owner, editor, tenant):
    upload(owner, tenant, "a.txt", b"a")
    assert manifests_write() == {"written": 1, "unchanged": 0, "failed": 0}
    assert manifests_write() == {"written": 0, "unchanged": 1, "failed": 0}
    File.objects.filter(tenant=tenant).update(tags=["new"])
    assert manifests_write() == {"written": 1, "unchanged": 0, "failed": 0}


def test_a_tenant_comes_back_from_the_bucket_alone(owner, editor, tenant):
    ids = build(owner, editor, tenant)
    manifests_write()
    with connection.cursor() as cursor:
        before = tenant_snapshot(cursor, tenant.pk)
    renditions = Rendition.objects.filter(tenant=tenant).count()
    rendition_objects = len(set(Rendition.objects.filter(tenant=tenant).values_list("storage_key", flat=True)))
    # Stored after the last manifest was written: no manifest names it.
    late = b"uploaded after the manifest"
    late_file = upload(editor, tenant, "late.txt", late).json()
    forget(tenant)

    result = bucket_restore.tenant_restore(tenant_id=str(tenant.pk), phases=no_progress)

    with connection.cursor() as cursor:
        after = tenant_snapshot(cursor, tenant.pk)
        usage, stored = usage_and_stored(cursor, tenant.pk)
    recovered = File.objects.get(tenant=tenant, folder__name="Recovered")
    assert recovered.sha256 == sha(late) and recovered.visibility == "private" and recovered.pk != late_file["id"]
    after["files"] = [row for row in after["files"] if row[0] != str(recovered.pk)]
    after["versions"] = [row for row in after["versions"] if row[0] != str(recovered.pk)]
    after["folders"] = [row for row in after["folders"] if row[2] != "Recovered"]
    after["blobs"] = [row for row in after["blobs"] if row[0] != sha(late)]
    assert after == before
    assert usage == stored
    assert result.objects.counts == {"ok": len(before["blobs"]) + rendition_objects}
    # Renditions are linked again, not made again; files with extracted text are processed
    # again for it (the manifest leaves the text out).
    assert Rendition.objects.filter(tenant=tenant).count() == renditions
    assert result.queued == 2
    assert {File.objects.get(pk=ids[name]).status for name in ("text", "note")} == {FileStatus.PENDING}
    assert File.objects.get(pk=ids["photo"]).status == FileStatus.COMPLETED
    member = User.objects.get(username=editor.user.username)
    assert member.email == editor.user.email and not member.has_usable_password()
    assert TenantGroup.objects.get(tenant=tenant).group.user_set.get() == member


def test_a_missing_rendition_is_made_again(owner, editor, tenant):
    photo = upload(editor, tenant, "hopper.webp", PHOTO.read_bytes()).json()
    file_process(file_id=photo["id"])
    manifests_write()
    keys = set(Rendition.objects.filter(tenant=tenant).values_list("storage_key", flat=True))
    lost = sorted(keys)[0]
    storage.object_delete(lost)
    if storage.object_head(lost, "replica"):
        storage.object_delete(lost, role="replica")
    forget(tenant)

    result = bucket_restore.tenant_restore(tenant_id=str(tenant.pk), phases=no_progress)

    assert result.objects.counts["missing"] == 1 and result.objects.problems == [("missing", lost)]
    assert not Rendition.objects.filter(storage_key=lost).exists()
    assert result.queued == 1 and File.objects.get(pk=photo["id"]).status == FileStatus.PENDING


def test_a_tenant_without_a_manifest_is_recovered_from_its_objects(tenant, editor):
    data = b"no manifest was ever written"
    upload(editor, tenant, "early.txt", data)
    forget(tenant)
    call_command("restore_from_bucket", "--tenant", str(tenant.pk), "--offline")
    restored = Tenant.objects.get(pk=tenant.pk)
    assert restored.slug.startswith("recovered-")
    assert File.objects.get(tenant=restored).sha256 == sha(data)


def test_it_refuses_a_database_that_holds_tenants(tenant, editor):
    upload(editor, tenant, "a.txt", b"a")
    manifests_write()
    with pytest.raises(CommandError, match="holds tenants already"):
        call_command("restore_from_bucket", "--offline")
    # --merge adds only the tenants the database lacks: this one is left as it is.
    MembershipFactory(tenant=tenant, role=Role.VIEWER)
    call_command("restore_from_bucket", "--offline", "--merge", "--tenant", str(tenant.pk))
    assert Membership.objects.filter(tenant=tenant).count() == 2
    assert Folder.objects.filter(tenant=tenant).count() == 0
