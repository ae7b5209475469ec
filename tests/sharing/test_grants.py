from __future__ import annotations

import pytest

from accounts.models import Role
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import client_for

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


def grant(client, tenant, kind, object_id, principal, permissions, principal_kind="user"):
    return client.post(
        api(tenant, f"{kind}/{object_id}/permissions/"),
        {principal_kind: str(principal), "permissions": permissions},
        format="json",
    )


def test_a_grantor_grants_only_rights_they_hold_and_never_to_themselves(owner, member, tenant):
    file_id = private_file(owner, tenant, "plan.txt")
    editor, colleague = member(Role.EDITOR), member(Role.EDITOR)
    assert grant(owner, tenant, "files", file_id, editor.user.id, ["view", "share"]).status_code == 201

    itself = grant(editor, tenant, "files", file_id, editor.user.id, ["view", "share", "change", "delete"])
    assert itself.status_code == 403 and itself.json()["code"] == "self_grant"
    more = grant(editor, tenant, "files", file_id, colleague.user.id, ["view", "change"])
    assert more.status_code == 403 and more.json()["code"] == "grant_exceeds_rights"
    assert editor.patch(api(tenant, f"files/{file_id}/"), {"description": "x"}, format="json").status_code == 403
    assert colleague.get(api(tenant, f"files/{file_id}/")).status_code == 404
    assert [g["permissions"] for g in owner.get(api(tenant, f"files/{file_id}/permissions/")).json()["results"]] == [
        ["view", "share"]
    ]
    # What they do hold, they may pass on.
    passed = grant(editor, tenant, "files", file_id, colleague.user.id, ["view", "share"])
    assert passed.status_code == 201 and passed.json()["granted_by"] == str(editor.user.id)
    assert colleague.get(api(tenant, f"files/{file_id}/")).status_code == 200


def test_only_managers_the_objects_owner_or_the_grantor_change_or_revoke_a_grant(owner, member, tenant):
    author = member(Role.EDITOR)
    file_id = private_file(author, tenant, "draft.txt")
    sharer, reader, other = member(Role.EDITOR), member(Role.VIEWER), member(Role.VIEWER)
    assert grant(author, tenant, "files", file_id, sharer.user.id, ["view", "share"]).status_code == 201
    assert grant(owner, tenant, "files", file_id, reader.user.id, ["view"]).status_code == 201

    # The sharer may not touch a grant somebody else made...
    overwrite = grant(sharer, tenant, "files", file_id, reader.user.id, ["view"])
    assert overwrite.status_code == 403 and overwrite.json()["code"] == "grant_not_yours"
    revoke = sharer.delete(api(tenant, f"files/{file_id}/permissions/{reader.user.id}/"))
    assert revoke.status_code == 403 and revoke.json()["code"] == "grant_not_yours"
    assert reader.get(api(tenant, f"files/{file_id}/")).status_code == 200
    # ...but manages their own.
    assert grant(sharer, tenant, "files", file_id, other.user.id, ["view"]).status_code == 201
    assert sharer.delete(api(tenant, f"files/{file_id}/permissions/{other.user.id}/")).status_code == 204
    assert other.get(api(tenant, f"files/{file_id}/")).status_code == 404
    assert grant(sharer, tenant, "files", file_id, other.user.id, ["view"]).status_code == 201
    # The file's owner manages every grant on it, and so do the tenant's owners and admins.
    assert author.delete(api(tenant, f"files/{file_id}/permissions/{reader.user.id}/")).status_code == 204
    assert member(Role.ADMIN).delete(api(tenant, f"files/{file_id}/permissions/{other.user.id}/")).status_code == 204
    assert reader.get(api(tenant, f"files/{file_id}/")).status_code == 404
    assert other.get(api(tenant, f"files/{file_id}/")).status_code == 404


def test_folder_grants_let_editors_rename_share_and_trash_the_folder_and_its_subfolders(owner, member, tenant):
    team = owner.post(api(tenant, "folders/"), {"name": "Team"}, format="json").json()
    sub = owner.post(api(tenant, "folders/"), {"name": "Plans", "parent": team["id"]}, format="json").json()
    other = owner.post(api(tenant, "folders/"), {"name": "Other"}, format="json").json()
    editor, viewer = member(Role.EDITOR), member(Role.VIEWER)
    for principal in (editor, viewer):
        rights = ["view", "change", "share", "delete"]
        assert grant(owner, tenant, "folders", team["id"], principal.user.id, rights).status_code == 201

    assert editor.patch(api(tenant, f"folders/{team['id']}/"), {"name": "Team 2"}, format="json").status_code == 200
    assert editor.patch(api(tenant, f"folders/{sub['id']}/"), {"name": "Ideas"}, format="json").status_code == 200
    assert editor.post(api(tenant, "shares/"), {"folder": sub["id"]}, format="json").status_code == 201
    assert editor.get(api(tenant, f"folders/{sub['id']}/permissions/")).status_code == 200
    assert editor.patch(api(tenant, f"folders/{other['id']}/"), {"name": "Mine"}, format="json").status_code == 403
    assert editor.post(api(tenant, "shares/"), {"folder": other["id"]}, format="json").status_code == 403
    # Viewers stay read-only whatever they were granted.
    assert viewer.patch(api(tenant, f"folders/{sub['id']}/"), {"name": "X"}, format="json").status_code == 403
    assert viewer.post(api(tenant, "shares/"), {"folder": team["id"]}, format="json").status_code == 403
    assert viewer.delete(api(tenant, f"folders/{team['id']}/")).status_code == 403

    assert editor.delete(api(tenant, f"folders/{sub['id']}/")).status_code == 204
    assert owner.get(api(tenant, f"folders/{sub['id']}/")).status_code == 404
    assert owner.get(api(tenant, f"folders/{team['id']}/")).json()["name"] == "Team 2"


def test_a_folder_grant_never_gives_more_than_its_grantor_could_see(owner, member, editor, tenant):
    inbox = editor.post(api(tenant, "folders/"), {"name": "Inbox"}, format="json").json()
    theirs = private_file(owner, tenant, "hr.txt", folder=inbox["id"])
    mine = private_file(editor, tenant, "mine.txt", folder=inbox["id"])
    assert editor.get(api(tenant, f"files/{theirs}/")).status_code == 404

    itself = grant(editor, tenant, "folders", inbox["id"], editor.user.id, ["view", "change", "delete"])
    assert itself.status_code == 403 and itself.json()["code"] == "self_grant"
    assert editor.get(api(tenant, f"files/{theirs}/")).status_code == 404
    # Granted on to a colleague, the folder shows them what the grantor owns in it, nothing more.
    colleague = member(Role.EDITOR)
    assert grant(editor, tenant, "folders", inbox["id"], colleague.user.id, ["view", "change"]).status_code == 201
    assert {f["id"] for f in colleague.get(api(tenant, "files/")).json()["results"]} == {mine}
    assert colleague.get(api(tenant, f"files/{theirs}/")).status_code == 404
    assert colleague.get(api(tenant, "search/"), {"q": "hr"}).json()["results"] == []
    # An admin's grant on the same folder reaches everything in it.
    assert grant(owner, tenant, "folders", inbox["id"], colleague.user.id, ["view"]).status_code == 201
    assert {f["id"] for f in colleague.get(api(tenant, "files/")).json()["results"]} == {mine, theirs}


def test_a_removed_member_loses_their_groups_and_grants_for_good(owner, member, tenant):
    file_id = private_file(owner, tenant, "board.txt")
    folder = owner.post(api(tenant, "folders/"), {"name": "Board"}, format="json").json()
    in_folder = private_file(owner, tenant, "minutes.txt", folder=folder["id"])
    leaver, stayer = member(Role.EDITOR), member(Role.EDITOR)
    group = owner.post(
        api(tenant, "groups/"), {"name": "Board", "members": [str(leaver.user.id), str(stayer.user.id)]}, format="json"
    ).json()
    assert grant(owner, tenant, "files", file_id, leaver.user.id, ["view"]).status_code == 201
    assert grant(owner, tenant, "folders", folder["id"], leaver.user.id, ["view"]).status_code == 201
    assert grant(owner, tenant, "files", in_folder, group["id"], ["view"], principal_kind="group").status_code == 201
    # Their grants and groups elsewhere stay theirs.
    elsewhere = MembershipFactory(user=leaver.user, role=Role.VIEWER)
    other_owner = client_for(MembershipFactory(tenant=elsewhere.tenant, role=Role.OWNER).user)
    other_group = other_owner.post(
        f"/api/v1/tenants/{elsewhere.tenant.slug}/groups/",
        {"name": "Them", "members": [str(leaver.user.id)]},
        format="json",
    ).json()

    assert owner.delete(api(tenant, f"members/{leaver.user.id}/")).status_code == 204
    assert owner.get(api(tenant, f"groups/{group['id']}/")).json()["members"] == [str(stayer.user.id)]
    assert owner.get(api(tenant, f"files/{file_id}/permissions/")).json()["results"] == []
    assert owner.get(api(tenant, f"folders/{folder['id']}/permissions/")).json()["results"] == []
    assert (
        owner.post(
            api(tenant, "members/"), {"username": leaver.user.username, "role": "viewer"}, format="json"
        ).status_code
        == 201
    )
    assert leaver.get(api(tenant, "files/")).json()["results"] == []
    assert other_owner.get(f"/api/v1/tenants/{elsewhere.tenant.slug}/groups/{other_group['id']}/").json()[
        "members"
    ] == [str(leaver.user.id)]


def test_moving_a_folder_under_a_shared_one_cannot_expose_files_the_mover_may_not_share(owner, member, tenant):
    shared = owner.post(api(tenant, "folders/"), {"name": "Shared"}, format="json").json()
    mover, colleague, reader = member(Role.EDITOR), member(Role.EDITOR), member(Role.VIEWER)
    for grantee, rights in ((mover, ["view", "change", "delete", "share"]), (reader, ["view"])):
        granted = owner.post(
            api(tenant, f"folders/{shared['id']}/permissions/"),
            {"user": str(grantee.user.id), "permissions": rights},
            format="json",
        )
        assert granted.status_code == 201
    drawer = mover.post(api(tenant, "folders/"), {"name": "Drawer"}, format="json").json()
    secret = private_file(colleague, tenant, folder=drawer["id"])
    assert reader.get(api(tenant, f"files/{secret}/")).status_code == 404

    moved = mover.patch(api(tenant, f"folders/{drawer['id']}/"), {"parent": shared["id"]}, format="json")

    assert moved.status_code == 409 and moved.json()["code"] == "folder_holds_protected_files"
    assert reader.get(api(tenant, f"files/{secret}/")).status_code == 404
    assert owner.get(api(tenant, f"folders/{drawer['id']}/")).json()["parent"] is None
    # Without the colleague's file in it, the mover may move their own folder there.
    colleague.delete(api(tenant, f"files/{secret}/"))
    assert (
        mover.patch(api(tenant, f"folders/{drawer['id']}/"), {"parent": shared["id"]}, format="json").status_code == 200
    )


def test_moving_a_file_needs_the_share_right_on_it(owner, member, tenant):
    shared = owner.post(api(tenant, "folders/"), {"name": "Shared"}, format="json").json()
    mover, colleague, reader = member(Role.EDITOR), member(Role.EDITOR), member(Role.VIEWER)
    assert grant(owner, tenant, "folders", shared["id"], reader.user.id, ["view"]).status_code == 201
    assert grant(owner, tenant, "folders", shared["id"], mover.user.id, ["view", "change"]).status_code == 201
    secret = private_file(colleague, tenant)
    assert grant(colleague, tenant, "files", secret, mover.user.id, ["view", "change"]).status_code == 201

    moved = mover.patch(api(tenant, f"files/{secret}/"), {"folder": shared["id"]}, format="json")

    assert moved.status_code == 403 and moved.json()["code"] == "move_not_allowed"
    assert reader.get(api(tenant, f"files/{secret}/")).status_code == 404
    # Renaming it stays a change the grant allows.
    assert mover.patch(api(tenant, f"files/{secret}/"), {"name": "plans.txt"}, format="json").status_code == 200


def test_a_grantee_cannot_grant_a_group_they_belong_to(owner, member, tenant):
    file_id = private_file(owner, tenant, "plan.txt")
    grantee = member(Role.EDITOR)
    group = owner.post(api(tenant, "groups/"), {"name": "Mine", "members": [str(grantee.user.id)]}, format="json")
    assert grant(owner, tenant, "files", file_id, grantee.user.id, ["view", "share"]).status_code == 201

    refused = grant(grantee, tenant, "files", file_id, group.json()["id"], ["view"], principal_kind="group")

    assert refused.status_code == 403 and refused.json()["code"] == "self_grant"
    # So revoking the grantee's own grant ends their access.
    owner.delete(api(tenant, f"files/{file_id}/permissions/{grantee.user.id}/"))
    assert grantee.get(api(tenant, f"files/{file_id}/")).status_code == 404


@pytest.mark.parametrize("how", ["revoked", "demoted", "removed", "left_the_group"])
def test_what_a_grantee_passed_on_ends_when_their_own_right_ends(owner, member, tenant, how):
    folder = owner.post(api(tenant, "folders/"), {"name": "Board"}, format="json").json()
    file_id = private_file(owner, tenant, "plan.txt", folder=folder["id"])
    grantee, colleague = member(Role.EDITOR), member(Role.EDITOR)
    if how == "left_the_group":
        group = owner.post(api(tenant, "groups/"), {"name": "Board", "members": [str(grantee.user.id)]}, format="json")
        grant(owner, tenant, "folders", folder["id"], group.json()["id"], ["view", "share"], principal_kind="group")
    else:
        assert grant(owner, tenant, "files", file_id, grantee.user.id, ["view", "share"]).status_code == 201
    assert grant(grantee, tenant, "files", file_id, colleague.user.id, ["view"]).status_code == 201
    assert colleague.get(api(tenant, f"files/{file_id}/")).status_code == 200

    if how == "revoked":
        owner.delete(api(tenant, f"files/{file_id}/permissions/{grantee.user.id}/"))
    elif how == "demoted":
        owner.patch(api(tenant, f"members/{grantee.user.id}/"), {"role": "viewer"}, format="json")
    elif how == "removed":
        owner.delete(api(tenant, f"members/{grantee.user.id}/"))
    else:
        owner.patch(api(tenant, f"groups/{group.json()['id']}/"), {"members": []}, format="json")

    assert colleague.get(api(tenant, f"files/{file_id}/")).status_code == 404


def test_re_grants_do_not_chain(owner, member, tenant):
    file_id = private_file(owner, tenant, "plan.txt")
    first, second, third = member(Role.EDITOR), member(Role.EDITOR), member(Role.EDITOR)
    assert grant(owner, tenant, "files", file_id, first.user.id, ["view", "share"]).status_code == 201
    assert grant(first, tenant, "files", file_id, second.user.id, ["view", "share"]).status_code == 201

    refused = grant(second, tenant, "files", file_id, third.user.id, ["view"])

    assert refused.status_code == 403 and refused.json()["code"] == "grant_exceeds_rights"
    assert third.get(api(tenant, f"files/{file_id}/")).status_code == 404
