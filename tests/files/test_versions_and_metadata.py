from __future__ import annotations

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from files.models import Blob, File, FileVersion
from files.services import files as file_services
from tests.files.conftest import all_past, sha, tenant_objects, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def url(tenant, file_id, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/files/{file_id}/{suffix}"


def test_new_version_while_s3_is_down_is_503_and_changes_nothing(editor, tenant, disposable_s3):
    file = upload(editor, tenant, "plan.txt", b"v1 bytes").json()
    disposable_s3.stop_s3()
    response = editor.post(
        url(tenant, file["id"], "versions/"), {"file": SimpleUploadedFile("plan.txt", b"v2 bytes")}, format="multipart"
    )
    assert response.status_code == 503 and response.json()["code"] == "storage_unavailable"
    assert FileVersion.objects.filter(file_id=file["id"]).count() == 1
    assert Blob.objects.filter(tenant=tenant).count() == 1
    assert editor.get(url(tenant, file["id"])).json()["sha256"] == sha(b"v1 bytes")


def test_versions_upload_list_and_restore(editor, tenant):
    file = upload(editor, tenant, "plan.txt", b"v1 bytes").json()
    second = editor.post(
        url(tenant, file["id"], "versions/"),
        {"file": SimpleUploadedFile("whatever.txt", b"v2 bytes"), "comment": "second draft"},
        format="multipart",
    )
    assert second.status_code == 201 and second.json()["number"] == 2 and second.json()["comment"] == "second draft"
    listing = editor.get(url(tenant, file["id"], "versions/")).json()["results"]
    assert [(v["number"], v["size"], v["current"]) for v in listing] == [(2, 8, True), (1, 8, False)]
    assert listing[1]["sha256"] == sha(b"v1 bytes") and listing[0]["uploaded_by"]["username"] == editor.user.username

    restored = editor.post(url(tenant, file["id"], "versions/1/restore/"))
    assert restored.status_code == 201 and restored.json()["number"] == 3
    assert restored.json()["sha256"] == sha(b"v1 bytes")
    assert FileVersion.objects.filter(file_id=file["id"]).count() == 3
    detail = editor.get(url(tenant, file["id"])).json()
    assert detail["version"] == 3 and detail["sha256"] == sha(b"v1 bytes") and detail["name"] == "plan.txt"
    fetched = requests.get(editor.get(url(tenant, file["id"], "download/"))["Location"], timeout=10)
    assert fetched.content == b"v1 bytes"
    # Restoring reuses the old blob: still two objects for two distinct contents.
    assert len(tenant_objects(tenant)) == 2 and Blob.objects.filter(tenant=tenant).count() == 2
    assert editor.post(url(tenant, file["id"], "versions/7/restore/")).status_code == 404


def test_viewer_cannot_add_or_restore_versions(member, editor, tenant):
    viewer = member(Role.VIEWER)
    file = upload(editor, tenant, "plan.txt", b"v1").json()
    response = viewer.post(
        url(tenant, file["id"], "versions/"), {"file": SimpleUploadedFile("x.txt", b"v2")}, format="multipart"
    )
    assert response.status_code == 403
    assert viewer.post(url(tenant, file["id"], "versions/1/restore/")).status_code == 403
    assert viewer.get(url(tenant, file["id"], "versions/")).status_code == 200
    assert FileVersion.objects.filter(file_id=file["id"]).count() == 1


def test_editor_cannot_change_someone_elses_file_but_admin_can(member, editor, tenant):
    file = upload(editor, tenant, "plan.txt", b"v1").json()
    other_editor = member(Role.EDITOR)
    assert other_editor.patch(url(tenant, file["id"]), {"name": "x.txt"}, format="json").status_code == 403
    assert other_editor.delete(url(tenant, file["id"])).status_code == 403
    admin = member(Role.ADMIN)
    assert admin.patch(url(tenant, file["id"]), {"name": "y.txt"}, format="json").status_code == 200


def test_patch_metadata(editor, tenant):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Inbox"}, format="json").json()
    file = upload(editor, tenant, "a.txt", b"a").json()
    response = editor.patch(
        url(tenant, file["id"]),
        {
            "name": "b.txt",
            "description": "Quarterly numbers",
            "tags": [" Finance ", "finance", "Q3"],
            "folder": folder["id"],
            "visibility": "private",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["name"] == "b.txt" and body["description"] == "Quarterly numbers"
    assert body["tags"] == ["finance", "q3"] and body["folder"] == folder["id"] and body["visibility"] == "private"
    to_root = editor.patch(url(tenant, file["id"]), {"folder": None}, format="json")
    assert to_root.json()["folder"] is None


def test_tag_bounds_and_name_conflicts(editor, tenant):
    a = upload(editor, tenant, "a.txt", b"a").json()
    upload(editor, tenant, "b.txt", b"b")
    too_many = editor.patch(url(tenant, a["id"]), {"tags": [f"t{i}" for i in range(51)]}, format="json")
    assert too_many.status_code == 400 and too_many.json()["code"] == "invalid_tags"
    too_long = editor.patch(url(tenant, a["id"]), {"tags": ["x" * 65]}, format="json")
    assert too_long.status_code == 400
    clash = editor.patch(url(tenant, a["id"]), {"name": "B.TXT"}, format="json")
    assert clash.status_code == 409 and clash.json()["code"] == "name_conflict"
    bad_visibility = editor.patch(url(tenant, a["id"]), {"visibility": "everyone"}, format="json")
    assert bad_visibility.status_code == 400
    assert editor.get(url(tenant, a["id"])).json()["name"] == "a.txt"


def test_two_files_renamed_to_the_same_name_at_once_is_a_409(editor, tenant, transactional_db, monkeypatch):
    files = [upload(editor, tenant, f"{n}.txt", f"file {n}".encode()).json() for n in range(2)]
    responses = all_past(
        monkeypatch,
        file_services,
        "_name_taken",
        *(
            lambda f=f: client_for(editor.user).patch(url(tenant, f["id"]), {"name": "same.txt"}, format="json")
            for f in files
        ),
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["name_conflict"]
    assert sorted(File.objects.filter(tenant=tenant).values_list("name", flat=True)) in (
        ["0.txt", "same.txt"],
        ["1.txt", "same.txt"],
    )
