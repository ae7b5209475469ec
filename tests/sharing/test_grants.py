from __future__ import annotations

import pytest

from accounts.models import Role
from tests.factories import MembershipFactory
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def api(tenant, suffix):
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


def private_file(client, tenant, name="secret.txt", folder=None):
    body = upload(client, tenant, name, b"private words", **({"folder": folder} if folder else {})).json()
    client.patch(api(tenant, f"files/{body['id']}/"), {"visibility": "private"}, format="json")
    return body["id"]


def test_user_grant_makes_a_private_file_visible_and_revoke_hides_it(owner, member, tenant):
    file_id = private_file(owner, tenant)
    viewer = member(Role.VIEWER)
    assert viewer.get(api(tenant, f"files/{file_id}/")).status_code == 404
    grant = owner.post(
        api(tenant, f"files/{file_id}/permissions/"),
        {"user": str(viewer.user.id), "permissions": ["view"]},
        format="json",
    )
    assert grant.status_code == 201 and grant.json()["permissions"] == ["view"]
    assert viewer.get(api(tenant, f"files/{file_id}/")).status_code == 200
    assert [f["id"] for f in viewer.get(api(tenant, "files/")).json()["results"]] == [file_id]
    assert viewer.get(api(tenant, f"files/{file_id}/download/")).status_code == 302
    # Viewers only ever read, whatever they were granted.
    owner.post(
        api(tenant, f"files/{file_id}/permissions/"),
        {"user": str(viewer.user.id), "permissions": ["view", "change"]},
        format="json",
    )
    assert viewer.patch(api(tenant, f"files/{file_id}/"), {"name": "x.txt"}, format="json").status_code == 403
    listed = owner.get(api(tenant, f"files/{file_id}/permissions/")).json()["results"]
    assert listed == [grant.json() | {"permissions": ["view", "change"]}]
    assert owner.delete(api(tenant, f"files/{file_id}/permissions/{viewer.user.id}/")).status_code == 204
    assert viewer.get(api(tenant, f"files/{file_id}/")).status_code == 404


def test_group_grant_on_a_folder_reaches_files_added_later(owner, member, tenant):
    folder = owner.post(api(tenant, "folders/"), {"name": "Board"}, format="json").json()
    sub = owner.post(api(tenant, "folders/"), {"name": "Minutes", "parent": folder["id"]}, format="json").json()
    editor = member(Role.EDITOR)
    group = owner.post(api(tenant, "groups/"), {"name": "Directors", "members": [str(editor.user.id)]}, format="json")
    assert group.status_code == 201 and group.json()["members"] == [str(editor.user.id)]
    response = owner.post(
        api(tenant, f"folders/{folder['id']}/permissions/"),
        {"group": group.json()["id"], "permissions": ["view", "change"]},
        format="json",
    )
    assert response.status_code == 201
    later = private_file(owner, tenant, "later.txt", folder=sub["id"])
    outside = private_file(owner, tenant, "outside.txt")
    visible = {f["id"] for f in editor.get(api(tenant, "files/")).json()["results"]}
    assert later in visible and outside not in visible
    # The group's editors may change what the folder grant covers, and nothing else.
    assert editor.patch(api(tenant, f"files/{later}/"), {"description": "read"}, format="json").status_code == 200
    assert editor.patch(api(tenant, f"files/{outside}/"), {"description": "x"}, format="json").status_code == 404
    assert editor.delete(api(tenant, f"files/{later}/")).status_code == 403  # change was granted, not delete
    # Leaving the group ends it.
    owner.patch(api(tenant, f"groups/{group.json()['id']}/"), {"members": []}, format="json")
    assert editor.get(api(tenant, f"files/{later}/")).status_code == 404


def test_grants_need_the_share_right_and_tenant_principals(owner, member, tenant):
    file_id = private_file(owner, tenant)
    editor = member(Role.EDITOR)
    stranger = MembershipFactory(role=Role.OWNER).user
    refused = editor.post(
        api(tenant, f"files/{file_id}/permissions/"),
        {"user": str(editor.user.id), "permissions": ["view"]},
        format="json",
    )
    assert refused.status_code == 404  # the editor cannot even see the private file
    outsider = owner.post(
        api(tenant, f"files/{file_id}/permissions/"), {"user": str(stranger.id), "permissions": ["view"]}, format="json"
    )
    assert outsider.status_code == 400 and outsider.json()["code"] == "unknown_user"
    bad = owner.post(
        api(tenant, f"files/{file_id}/permissions/"),
        {"user": str(editor.user.id), "permissions": ["own"]},
        format="json",
    )
    assert bad.status_code == 400
    shareable = upload(editor, tenant, "mine.txt", b"mine").json()["id"]
    viewer = member(Role.VIEWER)
    assert (
        editor.post(
            api(tenant, f"files/{shareable}/permissions/"),
            {"user": str(viewer.user.id), "permissions": ["view"]},
            format="json",
        ).status_code
        == 201
    )
    assert viewer.post(api(tenant, "groups/"), {"name": "Mine"}, format="json").status_code == 403


def test_a_grant_on_a_trashed_folder_does_not_reach_a_new_folder_of_the_same_name(owner, member, tenant):
    old = owner.post(api(tenant, "folders/"), {"name": "Secret"}, format="json").json()
    viewer = member(Role.VIEWER)
    granted = owner.post(
        api(tenant, f"folders/{old['id']}/permissions/"),
        {"user": str(viewer.user.id), "permissions": ["view"]},
        format="json",
    )
    assert granted.status_code == 201
    went_with = private_file(owner, tenant, "old-payroll.txt", folder=old["id"])
    assert owner.delete(api(tenant, f"folders/{old['id']}/")).status_code == 204
    new = owner.post(api(tenant, "folders/"), {"name": "Secret"}, format="json").json()
    payroll = private_file(owner, tenant, "payroll.txt", folder=new["id"])
    assert viewer.get(api(tenant, f"files/{payroll}/")).status_code == 404
    assert viewer.get(api(tenant, "files/")).json()["results"] == []
    assert viewer.get(api(tenant, "search/"), {"q": "payroll"}).json()["results"] == []
    # Restored (as "Secret (1)"), the old folder's grant covers what went with it again, and only that.
    assert owner.post(api(tenant, f"trash/{old['id']}/restore/")).status_code == 200
    assert [f["id"] for f in viewer.get(api(tenant, "files/")).json()["results"]] == [went_with]
