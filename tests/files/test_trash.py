from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from files.models import Blob, File, Folder
from files.services.trash import trash_purge_expired
from tests.files.conftest import tenant_objects, upload

pytestmark = pytest.mark.django_db


def t(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


def test_trash_list_restore_and_purge_file(editor, tenant, after_commit):
    file = upload(editor, tenant, "a.txt", b"aaa").json()
    assert editor.delete(t(tenant, f"files/{file['id']}/")).status_code == 204
    listed = editor.get(t(tenant, "files/")).json()["results"]
    assert listed == []
    trash = editor.get(t(tenant, "trash/")).json()
    assert set(trash) == {"results", "next", "previous"}
    entry = trash["results"][0]
    assert entry["id"] == file["id"] and entry["kind"] == "file" and entry["original_path"] == "/a.txt"
    assert entry["deleted_at"]
    assert editor.post(t(tenant, f"trash/{file['id']}/restore/")).status_code == 200
    assert editor.get(t(tenant, f"files/{file['id']}/")).status_code == 200
    assert editor.get(t(tenant, "trash/")).json()["results"] == []

    editor.delete(t(tenant, f"files/{file['id']}/"))
    with after_commit():
        assert editor.delete(t(tenant, f"trash/{file['id']}/")).status_code == 204
    assert not File.objects.filter(pk=file["id"]).exists()
    assert tenant_objects(tenant) == [] and not Blob.objects.filter(tenant=tenant).exists()


def test_restore_into_deleted_folder_goes_to_root_and_renames_on_conflict(editor, tenant):
    folder = editor.post(t(tenant, "folders/"), {"name": "Old"}, format="json").json()
    inside = upload(editor, tenant, "report.pdf", b"in folder", folder=folder["id"]).json()
    editor.delete(t(tenant, f"files/{inside['id']}/"))
    editor.delete(t(tenant, f"folders/{folder['id']}/"))
    upload(editor, tenant, "report.pdf", b"at root")
    response = editor.post(t(tenant, f"trash/{inside['id']}/restore/"))
    assert response.status_code == 200
    assert response.json() == {"id": inside["id"], "kind": "file", "name": "report (1).pdf", "path": "/report (1).pdf"}
    restored = File.objects.get(pk=inside["id"])
    assert restored.folder is None and restored.deleted_at is None


def test_folder_restore_brings_back_its_subtree_only(editor, tenant):
    a = editor.post(t(tenant, "folders/"), {"name": "A"}, format="json").json()
    b = editor.post(t(tenant, "folders/"), {"name": "B", "parent": a["id"]}, format="json").json()
    went_with = upload(editor, tenant, "with.txt", b"1", folder=b["id"]).json()
    trashed_before = upload(editor, tenant, "before.txt", b"2", folder=a["id"]).json()
    editor.delete(t(tenant, f"files/{trashed_before['id']}/"))
    editor.delete(t(tenant, f"folders/{a['id']}/"))
    entries = {e["id"]: e for e in editor.get(t(tenant, "trash/")).json()["results"]}
    assert set(entries) == {a["id"], trashed_before["id"]}

    editor.post(t(tenant, "folders/"), {"name": "A"}, format="json")  # takes the name meanwhile
    restored = editor.post(t(tenant, f"trash/{a['id']}/restore/")).json()
    assert restored["name"] == "A (1)" and restored["path"] == "/A (1)/"
    assert Folder.objects.get(pk=b["id"]).path == "/A (1)/B/" and Folder.objects.get(pk=b["id"]).deleted_at is None
    assert editor.get(t(tenant, f"files/{went_with['id']}/")).status_code == 200
    assert editor.get(t(tenant, f"files/{trashed_before['id']}/")).status_code == 404


def test_purge_keeps_blobs_still_used(editor, tenant, after_commit):
    a = upload(editor, tenant, "a.txt", b"shared").json()
    b = upload(editor, tenant, "b.txt", b"shared").json()
    editor.delete(t(tenant, f"files/{a['id']}/"))
    with after_commit():
        editor.delete(t(tenant, f"trash/{a['id']}/"))
    assert len(tenant_objects(tenant)) == 1
    assert editor.get(t(tenant, f"files/{b['id']}/download/")).status_code == 302


def test_empty_trash_and_folder_purge(editor, tenant, after_commit):
    folder = editor.post(t(tenant, "folders/"), {"name": "F"}, format="json").json()
    upload(editor, tenant, "in.txt", b"in", folder=folder["id"])
    loose = upload(editor, tenant, "loose.txt", b"loose").json()
    kept = upload(editor, tenant, "kept.txt", b"kept").json()
    editor.delete(t(tenant, f"folders/{folder['id']}/"))
    editor.delete(t(tenant, f"files/{loose['id']}/"))
    with after_commit():
        assert editor.post(t(tenant, "trash/empty/")).status_code == 204
    assert editor.get(t(tenant, "trash/")).json()["results"] == []
    assert list(File.objects.filter(tenant=tenant).values_list("id", flat=True)) == [File.objects.get(pk=kept["id"]).pk]
    assert not Folder.objects.filter(tenant=tenant).exists()
    assert len(tenant_objects(tenant)) == 1


def test_permanent_delete_skips_trash(editor, tenant, after_commit):
    file = upload(editor, tenant, "gone.txt", b"gone").json()
    with after_commit():
        assert editor.delete(t(tenant, f"files/{file['id']}/?permanent=true")).status_code == 204
    assert editor.get(t(tenant, "trash/")).json()["results"] == []
    assert tenant_objects(tenant) == []
    folder = editor.post(t(tenant, "folders/"), {"name": "F"}, format="json").json()
    upload(editor, tenant, "x.txt", b"x", folder=folder["id"])
    with after_commit():
        assert editor.delete(t(tenant, f"folders/{folder['id']}/?permanent=true")).status_code == 204
    assert not Folder.objects.filter(tenant=tenant).exists() and not File.objects.filter(tenant=tenant).exists()
    assert tenant_objects(tenant) == []


def test_trash_retention_sweep(editor, tenant, after_commit):
    old = upload(editor, tenant, "old.txt", b"old").json()
    recent = upload(editor, tenant, "recent.txt", b"recent").json()
    editor.delete(t(tenant, f"files/{old['id']}/"))
    editor.delete(t(tenant, f"files/{recent['id']}/"))
    File.objects.filter(pk=old["id"]).update(
        deleted_at=timezone.now() - timedelta(days=tenant.trash_retention_days + 1)
    )
    with after_commit():
        assert trash_purge_expired() == 1
    assert [e["id"] for e in editor.get(t(tenant, "trash/")).json()["results"]] == [recent["id"]]
    assert len(tenant_objects(tenant)) == 1


def test_trash_pagination(editor, tenant, monkeypatch):
    from files.api.views import TrashListView

    monkeypatch.setattr(TrashListView, "page_size", 2)
    ids = [upload(editor, tenant, f"{i}.txt", str(i).encode()).json()["id"] for i in range(5)]
    for file_id in ids:
        editor.delete(t(tenant, f"files/{file_id}/"))
    seen, url = [], t(tenant, "trash/")
    while url:
        page = editor.get(url).json()
        seen += [e["id"] for e in page["results"]]
        url = page["next"]
    assert sorted(seen) == sorted(ids) and len(seen) == 5


def _trashed_then_retaken(client, tenant, name="Reports"):
    """A folder (with a subfolder) trashed, then a new live folder of the same name with its own subfolder."""
    old = client.post(t(tenant, "folders/"), {"name": name}, format="json").json()
    old_sub = client.post(t(tenant, "folders/"), {"name": "Q1", "parent": old["id"]}, format="json").json()
    assert client.delete(t(tenant, f"folders/{old['id']}/")).status_code == 204
    new = client.post(t(tenant, "folders/"), {"name": name}, format="json").json()
    assert new["path"] == f"/{name}/"
    sub = client.post(t(tenant, "folders/"), {"name": "Q1", "parent": new["id"]}, format="json").json()
    live = upload(client, tenant, "live.txt", b"live data", folder=sub["id"]).json()
    return old, old_sub, new, sub, live


def test_purging_a_trashed_folder_leaves_a_live_folder_with_the_same_path(editor, tenant):
    old, old_sub, new, sub, live = _trashed_then_retaken(editor, tenant)
    assert editor.delete(t(tenant, f"trash/{old['id']}/")).status_code == 204
    assert not Folder.objects.filter(pk__in=[old["id"], old_sub["id"]]).exists()
    assert editor.get(t(tenant, f"folders/{new['id']}/")).json()["path"] == "/Reports/"
    assert editor.get(t(tenant, f"folders/{sub['id']}/")).json()["path"] == "/Reports/Q1/"
    assert editor.get(t(tenant, f"files/{live['id']}/")).json()["folder"] == sub["id"]
    assert editor.get(t(tenant, f"files/{live['id']}/download/")).status_code == 302


def test_emptying_the_trash_leaves_a_live_folder_with_the_same_path(editor, tenant):
    old, old_sub, new, sub, live = _trashed_then_retaken(editor, tenant)
    assert editor.post(t(tenant, "trash/empty/")).status_code == 204
    assert sorted(Folder.objects.filter(tenant=tenant).values_list("path", flat=True)) == ["/Reports/", "/Reports/Q1/"]
    assert editor.get(t(tenant, f"files/{live['id']}/")).status_code == 200


def test_restoring_a_trashed_folder_renames_only_the_restored_subtree(editor, tenant):
    old, old_sub, new, sub, live = _trashed_then_retaken(editor, tenant)
    restored = editor.post(t(tenant, f"trash/{old['id']}/restore/")).json()
    assert restored["name"] == "Reports (1)" and restored["path"] == "/Reports (1)/"
    paths = {f["id"]: f["path"] for f in editor.get(t(tenant, "folders/")).json()["results"]}
    assert paths == {new["id"]: "/Reports/", old["id"]: "/Reports (1)/"}
    assert editor.get(t(tenant, f"folders/{sub['id']}/")).json()["path"] == "/Reports/Q1/"
    assert editor.get(t(tenant, f"folders/{old_sub['id']}/")).json()["path"] == "/Reports (1)/Q1/"
    listed = editor.get(t(tenant, "files/"), {"folder": new["id"], "subtree": "true"}).json()["results"]
    assert [f["id"] for f in listed] == [live["id"]]


def test_renaming_a_live_folder_leaves_a_trashed_one_of_the_same_path_alone(editor, tenant):
    old, old_sub, new, sub, live = _trashed_then_retaken(editor, tenant)
    assert editor.patch(t(tenant, f"folders/{new['id']}/"), {"name": "Renamed"}, format="json").status_code == 200
    entry = editor.get(t(tenant, "trash/")).json()["results"][0]
    assert entry["id"] == old["id"] and entry["original_path"] == "/Reports/"
    restored = editor.post(t(tenant, f"trash/{old['id']}/restore/")).json()
    assert restored["path"] == "/Reports/"
    assert editor.get(t(tenant, f"folders/{old_sub['id']}/")).json()["path"] == "/Reports/Q1/"
    assert editor.get(t(tenant, f"folders/{sub['id']}/")).json()["path"] == "/Renamed/Q1/"


def test_trashing_a_folder_holding_files_the_actor_may_not_delete_is_refused(owner, editor, tenant):
    mine = editor.post(t(tenant, "folders/"), {"name": "Mine"}, format="json").json()
    sub = editor.post(t(tenant, "folders/"), {"name": "Sub", "parent": mine["id"]}, format="json").json()
    own_file = upload(editor, tenant, "own.txt", b"own", folder=mine["id"]).json()
    keep = upload(owner, tenant, "keep.txt", b"the owner's", folder=sub["id"]).json()
    owner.patch(t(tenant, f"files/{keep['id']}/"), {"visibility": "private"}, format="json")
    before = sorted(Folder.objects.filter(tenant=tenant).values_list("id", "path", "deleted_at"))

    for url in (f"folders/{mine['id']}/", f"folders/{mine['id']}/?permanent=true"):
        refused = editor.delete(t(tenant, url))
        assert refused.status_code == 409 and refused.json()["code"] == "folder_holds_protected_files"
    assert sorted(Folder.objects.filter(tenant=tenant).values_list("id", "path", "deleted_at")) == before
    assert owner.get(t(tenant, f"files/{keep['id']}/")).status_code == 200
    assert editor.get(t(tenant, f"files/{own_file['id']}/")).status_code == 200
    assert editor.get(t(tenant, "trash/")).json()["results"] == []

    # Once the owner has taken their file out, the editor's folder goes to the trash whole.
    assert owner.patch(t(tenant, f"files/{keep['id']}/"), {"folder": None}, format="json").status_code == 200
    assert editor.delete(t(tenant, f"folders/{mine['id']}/")).status_code == 204
    assert [e["id"] for e in editor.get(t(tenant, "trash/")).json()["results"]] == [mine["id"]]
    assert owner.get(t(tenant, f"files/{keep['id']}/")).status_code == 200


def _team_with_a_colleagues_private_file(member, tenant):
    """Editor E's /Team holding editor X's private salary.xlsx and E's own notes.txt, trashed by an admin."""
    from accounts.models import Role

    e, x, admin = member(Role.EDITOR), member(Role.EDITOR), member(Role.ADMIN)
    team = e.post(t(tenant, "folders/"), {"name": "Team"}, format="json").json()
    own = upload(e, tenant, "notes.txt", b"e's notes", folder=team["id"]).json()
    salary = upload(x, tenant, "salary.xlsx", b"x's salary", folder=team["id"]).json()
    assert x.patch(t(tenant, f"files/{salary['id']}/"), {"visibility": "private"}, format="json").status_code == 200
    assert admin.delete(t(tenant, f"folders/{team['id']}/")).status_code == 204
    return e, x, admin, team, own, salary


def test_purging_a_folder_holding_others_files_is_refused(member, tenant):
    e, x, admin, team, own, salary = _team_with_a_colleagues_private_file(member, tenant)
    assert [entry["id"] for entry in e.get(t(tenant, "trash/")).json()["results"]] == [team["id"]]
    refused = e.delete(t(tenant, f"trash/{team['id']}/"))
    assert refused.status_code == 409 and refused.json()["code"] == "folder_holds_protected_files"
    assert File.objects.filter(pk__in=[own["id"], salary["id"]]).count() == 2
    assert Folder.objects.filter(pk=team["id"]).exists()
    # The admin may; then both files are gone.
    assert admin.delete(t(tenant, f"trash/{team['id']}/")).status_code == 204
    assert not File.objects.filter(pk__in=[own["id"], salary["id"]]).exists()


def test_emptying_the_trash_skips_folders_holding_others_files(member, tenant):
    e, x, admin, team, own, salary = _team_with_a_colleagues_private_file(member, tenant)
    loose = upload(e, tenant, "loose.txt", b"loose").json()
    e.delete(t(tenant, f"files/{loose['id']}/"))
    assert e.post(t(tenant, "trash/empty/")).status_code == 204
    assert not File.objects.filter(pk=loose["id"]).exists()
    assert File.objects.filter(pk__in=[own["id"], salary["id"]]).count() == 2
    assert [entry["id"] for entry in e.get(t(tenant, "trash/")).json()["results"]] == [team["id"]]


def test_a_folder_the_actor_trashed_themselves_may_be_purged_by_them(member, tenant, after_commit):
    from accounts.models import Role

    e = member(Role.EDITOR)
    team = e.post(t(tenant, "folders/"), {"name": "Team"}, format="json").json()
    upload(e, tenant, "notes.txt", b"e's notes", folder=team["id"])
    assert e.delete(t(tenant, f"folders/{team['id']}/")).status_code == 204
    with after_commit():
        assert e.delete(t(tenant, f"trash/{team['id']}/")).status_code == 204
    assert not File.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []


def test_purging_a_folder_keeps_a_subfolder_trashed_on_its_own_before(editor, tenant):
    a = editor.post(t(tenant, "folders/"), {"name": "A"}, format="json").json()
    b = editor.post(t(tenant, "folders/"), {"name": "B", "parent": a["id"]}, format="json").json()
    c = editor.post(t(tenant, "folders/"), {"name": "C", "parent": b["id"]}, format="json").json()
    in_b = upload(editor, tenant, "in_b.txt", b"b", folder=b["id"]).json()
    in_c = upload(editor, tenant, "in_c.txt", b"c", folder=c["id"]).json()
    upload(editor, tenant, "in_a.txt", b"a", folder=a["id"])
    assert editor.delete(t(tenant, f"folders/{b['id']}/")).status_code == 204
    assert editor.delete(t(tenant, f"folders/{a['id']}/")).status_code == 204

    assert editor.delete(t(tenant, f"trash/{a['id']}/")).status_code == 204
    entries = editor.get(t(tenant, "trash/")).json()["results"]
    assert [(e["id"], e["original_path"]) for e in entries] == [(b["id"], "/A/B/")]
    assert File.objects.get(pk=in_b["id"]).folder_id == Folder.objects.get(pk=b["id"]).pk

    restored = editor.post(t(tenant, f"trash/{b['id']}/restore/")).json()
    assert restored["path"] == "/B/"
    assert editor.get(t(tenant, f"folders/{c['id']}/")).json()["path"] == "/B/C/"
    assert editor.get(t(tenant, f"files/{in_b['id']}/")).json()["folder"] == b["id"]
    assert editor.get(t(tenant, f"files/{in_c['id']}/")).json()["folder"] == c["id"]


@pytest.mark.parametrize(
    "cursor",
    [
        "2024-01-01T00:00:00_x",
        "2024-13-45T00:00:00+00:00_7b0c2f4e-7f43-4a55-9b43-0e1c2d6f7a10",
        "2024-01-01T00:00:00+00:00_",
        "garbage",
        "_",
    ],
)
def test_a_bad_trash_cursor_is_a_400(editor, tenant, cursor):
    response = editor.get(t(tenant, "trash/"), {"cursor": cursor})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid cursor.", "code": "invalid_cursor"}


def test_a_trash_cursor_without_a_time_zone_still_pages(editor, tenant):
    file = upload(editor, tenant, "a.txt", b"a").json()
    editor.delete(t(tenant, f"files/{file['id']}/"))
    later = (timezone.now() + timedelta(days=1)).replace(tzinfo=None).isoformat()
    response = editor.get(t(tenant, "trash/"), {"cursor": f"{later}_{file['id']}"})
    assert response.status_code == 200 and [e["id"] for e in response.json()["results"]] == [file["id"]]


def test_two_restores_racing_for_one_name_are_a_409_not_a_500(editor, tenant, monkeypatch, transactional_db):
    from accounts.models import Membership
    from files.services import trash
    from mediaportal.exceptions import Conflict
    from tests.files.conftest import all_past

    ids = []
    for data in (b"first", b"second"):
        ids.append(upload(editor, tenant, "a.txt", data).json()["id"])
        editor.delete(t(tenant, f"files/{ids[-1]}/"))
    membership = Membership.objects.get(user=editor.user, tenant=tenant)

    def restore(file_id):
        def call():
            try:
                return trash.trash_restore(membership=membership, item_id=file_id).name
            except Conflict as exc:
                return exc.code

        return call

    outcomes = all_past(monkeypatch, trash, "free_file_name", restore(ids[0]), restore(ids[1]))
    assert sorted(outcomes) == ["a.txt", "name_conflict"]
    assert File.objects.filter(tenant=tenant, deleted_at__isnull=True).count() == 1
    # The one that lost is still in the trash, and restores under the next free name.
    lost = ids[outcomes.index("name_conflict")]
    assert [e["id"] for e in editor.get(t(tenant, "trash/")).json()["results"]] == [lost]
    monkeypatch.undo()
    assert editor.post(t(tenant, f"trash/{lost}/restore/")).json()["name"] == "a (1).txt"
