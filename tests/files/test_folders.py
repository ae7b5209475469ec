from __future__ import annotations

import threading

import pytest

from accounts.models import Role
from files.models import File, Folder
from files.services import folders as folder_services
from tests.files.conftest import InThread, all_past, lock_waiters, upload, wait_until
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def folders_url(tenant, suffix: str = "") -> str:
    return f"/api/v1/tenants/{tenant.slug}/folders/{suffix}"


def make(client, tenant, name, parent=None):
    response = client.post(folders_url(tenant), {"name": name, "parent": parent}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_create_and_list_children_with_counts(editor, tenant):
    photos = make(editor, tenant, "Photos")
    assert photos["path"] == "/Photos/" and photos["parent"] is None
    assert set(photos) >= {"id", "name", "parent", "path", "created_at"}
    year = make(editor, tenant, "2024", photos["id"])
    assert year["path"] == "/Photos/2024/" and year["parent"] == photos["id"]
    make(editor, tenant, "Docs")
    upload(editor, tenant, "a.jpg", b"a", folder=photos["id"])
    upload(editor, tenant, "b.jpg", b"b", folder=photos["id"])

    root = editor.get(folders_url(tenant)).json()["results"]
    assert [f["name"] for f in root] == ["Docs", "Photos"]
    by_name = {f["name"]: f for f in root}
    assert by_name["Photos"]["file_count"] == 2 and by_name["Photos"]["folder_count"] == 1
    assert by_name["Docs"]["file_count"] == 0
    children = editor.get(folders_url(tenant), {"parent": photos["id"]}).json()["results"]
    assert [f["name"] for f in children] == ["2024"]


def test_sibling_names_are_unique_case_insensitively(editor, tenant):
    make(editor, tenant, "Reports")
    response = editor.post(folders_url(tenant), {"name": "reports"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "name_conflict"
    parent = make(editor, tenant, "Archive")
    assert (
        editor.post(folders_url(tenant), {"name": "Reports", "parent": parent["id"]}, format="json").status_code == 201
    )


def test_rename_rewrites_the_subtree_paths(editor, tenant):
    a = make(editor, tenant, "A")
    b = make(editor, tenant, "B", a["id"])
    c = make(editor, tenant, "C", b["id"])
    response = editor.patch(folders_url(tenant, f"{a['id']}/"), {"name": "Alpha"}, format="json")
    assert response.status_code == 200 and response.json()["path"] == "/Alpha/"
    assert Folder.objects.get(pk=b["id"]).path == "/Alpha/B/"
    assert Folder.objects.get(pk=c["id"]).path == "/Alpha/B/C/"


def test_move_and_its_limits(editor, tenant):
    a = make(editor, tenant, "A")
    b = make(editor, tenant, "B", a["id"])
    c = make(editor, tenant, "C")
    moved = editor.patch(folders_url(tenant, f"{b['id']}/"), {"parent": c["id"]}, format="json")
    assert moved.status_code == 200 and moved.json()["path"] == "/C/B/"
    to_root = editor.patch(folders_url(tenant, f"{b['id']}/"), {"parent": None}, format="json")
    assert to_root.json()["path"] == "/B/" and to_root.json()["parent"] is None

    inner = make(editor, tenant, "Inner", c["id"])
    into_self = editor.patch(folders_url(tenant, f"{c['id']}/"), {"parent": c["id"]}, format="json")
    assert into_self.status_code == 400 and into_self.json()["code"] == "invalid_move"
    into_child = editor.patch(folders_url(tenant, f"{c['id']}/"), {"parent": inner["id"]}, format="json")
    assert into_child.status_code == 400
    assert Folder.objects.get(pk=c["id"]).path == "/C/"

    make(editor, tenant, "B", a["id"])
    clash = editor.patch(folders_url(tenant, f"{b['id']}/"), {"parent": a["id"]}, format="json")
    assert clash.status_code == 409 and clash.json()["code"] == "name_conflict"


def test_delete_moves_the_folder_and_everything_under_it_to_the_trash(editor, tenant):
    a = make(editor, tenant, "A")
    b = make(editor, tenant, "B", a["id"])
    f1 = upload(editor, tenant, "one.txt", b"1", folder=a["id"]).json()
    f2 = upload(editor, tenant, "two.txt", b"2", folder=b["id"]).json()
    assert editor.delete(folders_url(tenant, f"{a['id']}/")).status_code == 204
    assert editor.get(folders_url(tenant, f"{a['id']}/")).status_code == 404
    assert editor.get(folders_url(tenant, f"{b['id']}/")).status_code == 404
    for f in (f1, f2):
        assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/{f['id']}/").status_code == 404
    trash = editor.get(f"/api/v1/tenants/{tenant.slug}/trash/").json()["results"]
    assert [(e["kind"], e["name"], e["original_path"]) for e in trash] == [("folder", "A", "/A/")]
    # The name is free again.
    assert editor.post(folders_url(tenant), {"name": "A"}, format="json").status_code == 201


def test_viewer_cannot_create_rename_or_delete(member, editor, tenant):
    viewer = member(Role.VIEWER)
    folder = make(editor, tenant, "Mine")
    assert viewer.post(folders_url(tenant), {"name": "X"}, format="json").status_code == 403
    assert viewer.patch(folders_url(tenant, f"{folder['id']}/"), {"name": "Y"}, format="json").status_code == 403
    assert viewer.delete(folders_url(tenant, f"{folder['id']}/")).status_code == 403
    assert viewer.get(folders_url(tenant, f"{folder['id']}/")).status_code == 200
    assert Folder.objects.get(pk=folder["id"]).name == "Mine"


def test_unknown_parent_is_404(editor, tenant):
    import uuid

    response = editor.post(folders_url(tenant), {"name": "X", "parent": str(uuid.uuid4())}, format="json")
    assert response.status_code == 404
    assert not Folder.objects.exists() and not File.objects.exists()


def test_two_folders_moved_into_each_other_at_once_make_one_move_and_one_clear_refusal(
    editor, tenant, transactional_db, monkeypatch
):
    a, b = make(editor, tenant, "A"), make(editor, tenant, "B")
    arrived = []
    real_sibling_taken = folder_services.sibling_taken

    def both_at_the_write(**kwargs):
        # Each move goes on once the other one is here too, waits for a lock, or is done.
        arrived.append(True)
        wait_until(
            lambda: len(arrived) == 2 or lock_waiters() > 0 or any(not m.is_alive() for m in moves),
            what="the other move",
        )
        return real_sibling_taken(**kwargs)

    monkeypatch.setattr(folder_services, "sibling_taken", both_at_the_write)
    moves = [
        InThread(
            lambda: client_for(editor.user).patch(
                folders_url(tenant, f"{a['id']}/"), {"parent": b["id"]}, format="json"
            )
        ),
        InThread(
            lambda: client_for(editor.user).patch(
                folders_url(tenant, f"{b['id']}/"), {"parent": a["id"]}, format="json"
            )
        ),
    ]
    for move in moves:
        move.start()
    responses = [move.outcome() for move in moves]

    assert sorted(r.status_code for r in responses) == [200, 400], [r.content for r in responses]
    assert [r.json()["code"] for r in responses if r.status_code == 400] == ["invalid_move"]
    parents = dict(Folder.objects.filter(tenant=tenant).values_list("name", "parent__name"))
    assert parents in ({"A": "B", "B": None}, {"A": None, "B": "A"})


def test_two_folders_renamed_to_the_same_name_at_once_is_a_409(editor, tenant, transactional_db, monkeypatch):
    x, y = make(editor, tenant, "X"), make(editor, tenant, "Y")
    responses = all_past(
        monkeypatch,
        folder_services,
        "sibling_taken",
        *(
            lambda f=f: client_for(editor.user).patch(
                folders_url(tenant, f"{f['id']}/"), {"name": "Same"}, format="json"
            )
            for f in (x, y)
        ),
    )

    assert sorted(r.status_code for r in responses) == [200, 409], [r.content for r in responses]
    assert [r.json()["code"] for r in responses if r.status_code == 409] == ["name_conflict"]
    assert sorted(Folder.objects.filter(tenant=tenant).values_list("name", flat=True)) in (["Same", "X"], ["Same", "Y"])


def test_a_write_that_loses_a_deadlock_is_a_409_retry(tenant, transactional_db):
    from mediaportal.exceptions import Conflict

    a, b = (Folder.objects.create(tenant=tenant, name=name, path=f"/{name}/") for name in ("A", "B"))
    first_locked = threading.Barrier(2, timeout=30)

    def lock_both(first, second):
        with folder_services.atomic_or_conflict(unique="folder_sibling_name_unique", detail="taken"):
            Folder.objects.select_for_update().get(pk=first.pk)
            first_locked.wait()
            Folder.objects.select_for_update().get(pk=second.pk)
        return "done"

    writes = [InThread(lambda: lock_both(a, b)), InThread(lambda: lock_both(b, a))]
    for write in writes:
        write.start()
    for write in writes:
        write.join(60)
    assert sorted(str(w.result or w.error.code) for w in writes) == ["done", "retry"]
    assert all(w.error is None or isinstance(w.error, Conflict) for w in writes)
