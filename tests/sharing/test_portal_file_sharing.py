"""The file page's sharing panels (sharing.views.file) and its activity (analytics.views)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role, TenantGroup
from files.models import File, FileUserPermission, Folder
from sharing.models import ShareLink
from sharing.services.grants import grant_set
from sharing.services.groups import group_create
from tests.factories import MembershipFactory
from tests.files.test_portal_file_page import TEXT, page_url, put, someone

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def person(tenant):
    return lambda role=Role.EDITOR, tenant_=None: someone(tenant_ or tenant, role)


def panel(who, tenant, file, name: str, data=None, **extra):
    url = page_url(tenant, file, name)
    if data is None:
        return who.web.get(url, **HTMX, **extra)
    return who.web.post(url, data, **HTMX, **extra)


# --- Permissions ------------------------------------------------------------------------


def test_the_owner_sees_who_can_see_the_file_and_why(person, tenant):
    owner = person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    html = panel(owner, tenant, file, "permissions/").content.decode()
    assert f"Owner: <strong>{owner.user.username}</strong>" in html
    assert "Team: every member of the team can see it." in html and "You: You own it." in html
    assert "Nobody was granted rights" in html and ">Grant</button>" in html


def test_granting_by_username_and_removing_it(person, tenant):
    owner, colleague = person(Role.EDITOR), person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    data = {"username": colleague.user.username, "permissions": ["view", "change"]}
    response = panel(owner, tenant, file, "permissions/", data)
    html = response.content.decode()
    assert response.status_code == 200 and "Granted view, change to" in html
    assert f"<td>{colleague.user.username}</td>\n        <td>view, change</td>\n        <td>this file</td>" in html
    rows = FileUserPermission.objects.filter(content_object=file, user=colleague.user)
    assert sorted(row.permission.codename for row in rows) == ["change_file", "view_file"]
    removed = panel(owner, tenant, file, f"permissions/{colleague.user.pk}/remove/", {})
    assert "Grant removed." in removed.content.decode()
    assert not FileUserPermission.objects.filter(content_object=file).exists()


def test_grant_refusals_show_inline_and_change_nothing(person, tenant):
    owner, colleague = person(Role.EDITOR), person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    cases = [
        ({"username": "nobody-here", "permissions": ["view"]}, "No member of this team is called “nobody-here”."),
        ({"username": owner.user.username, "permissions": ["view"]}, "You cannot grant rights to yourself."),
        ({"username": colleague.user.username}, "permissions must be some of view, change, delete, share."),
        ({"permissions": ["view"]}, "Give either a member&#x27;s username or a group."),
    ]
    for data, error in cases:
        html = panel(owner, tenant, file, "permissions/", data).content.decode()
        assert f'<p class="errorlist" role="alert" id="grant-error">{error}</p>' in html, error
    assert not FileUserPermission.objects.filter(content_object=file).exists()


def test_a_group_grant_and_a_folder_grant_show_where_they_come_from(person, tenant):
    owner, colleague = person(Role.OWNER), person(Role.EDITOR)
    folder = Folder.objects.create(tenant=tenant, name="Reports", path="/Reports/", created_by=owner.user)
    file = put(owner, tenant, TEXT, process=False, folder=str(folder.pk))
    group = group_create(membership=owner.membership, name="Auditors", member_ids=[colleague.user.pk])
    grant_set(membership=owner.membership, target=folder, permissions=["view", "delete"], user_id=colleague.user.pk)
    html = panel(
        owner, tenant, file, "permissions/", {"group": str(group.pk), "permissions": ["view"]}
    ).content.decode()
    assert "<td>Group Auditors</td>\n        <td>view</td>\n        <td>this file</td>" in html
    assert f"<td>{colleague.user.username}</td>\n        <td>view, delete</td>" in html
    assert f'folder <a href="/t/{tenant.slug}/folders/{folder.pk}/">/Reports/</a>' in html
    assert TenantGroup.objects.get(pk=group.pk).name == "Auditors"


def test_without_the_share_right_the_grants_stay_hidden_and_cannot_change(person, tenant):
    owner, viewer = person(Role.EDITOR), person(Role.VIEWER)
    file = put(owner, tenant, TEXT, process=False)
    grant_set(membership=owner.membership, target=file, permissions=["view"], user_id=viewer.user.pk)
    html = panel(viewer, tenant, file, "permissions/").content.decode()
    assert "Only members who may share this file see and change its grants." in html
    assert viewer.user.username not in html.split("You:")[0] and ">Grant</button>" not in html
    refused = panel(viewer, tenant, file, "permissions/", {"username": owner.user.username, "permissions": ["view"]})
    assert refused.status_code == 403
    assert panel(viewer, tenant, file, f"permissions/{viewer.user.pk}/remove/", {}).status_code == 403
    assert FileUserPermission.objects.filter(content_object=file).count() == 1


def test_panels_are_404_to_outsiders_and_across_tenants(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT, process=False)
    File.objects.filter(pk=file.pk).update(visibility="private")
    colleague = person(Role.EDITOR)
    stranger = person(Role.OWNER, tenant_=MembershipFactory(role=Role.OWNER).tenant)
    for name in ("permissions/", "links/", "activity/"):
        assert panel(colleague, tenant, file, name).status_code == 404, name
        assert panel(stranger, tenant, file, name).status_code == 404, name
        other = f"/t/{stranger.membership.tenant.slug}/files/{file.pk}/{name}"
        assert stranger.web.get(other, **HTMX).status_code == 404, name
    assert panel(stranger, tenant, file, "links/", {"max_downloads": "1"}).status_code == 404
    assert not ShareLink.objects.exists()


# --- Share links ------------------------------------------------------------------------


def _link_url(html: str) -> str:
    return re.search(r'<input id="share-link" type="text" value="([^"]+)" readonly', html).group(1)


def test_creating_a_link_with_password_and_limit_shows_it_once_and_it_works(person, tenant):
    owner = person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    expires = (timezone.localdate() + timedelta(days=3)).isoformat()
    data = {"expires": expires, "password": "s3cret", "max_downloads": "1"}
    response = panel(owner, tenant, file, "links/", data)
    html = response.content.decode()
    assert response.status_code == 200 and '<label for="share-link">Link</label>' in html
    url = _link_url(html)
    assert url.startswith("http://testserver/s/")
    link = ShareLink.objects.get(file=file)
    assert (
        link.max_downloads == 1
        and link.password_hash
        and timezone.localtime(link.expires_at).isoformat().startswith(f"{expires}T23:59:59")
    )
    assert 'id="share-links-list" hx-swap-oob="true"' in html and "0 of 1" in html

    visitor = Client()
    token_path = url.removeprefix("http://testserver")
    assert 'name="password"' in visitor.get(token_path).content.decode()
    assert visitor.post(token_path, {"password": "s3cret"}).status_code == 302
    download = visitor.get(token_path + "/download")
    assert download.status_code == 302
    assert requests.get(download["Location"], timeout=10).content == TEXT.read_bytes()
    assert visitor.get(token_path + "/download").status_code == 410
    listed = panel(owner, tenant, file, "links/").content.decode()
    assert ">exhausted</span>" in listed and "1 of 1" in listed
    assert '<td class="num">1</td>' in listed  # opened once (the password form; unlocking is no visit)


def test_link_refusals_show_next_to_their_field(person, tenant):
    owner = person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    far = (timezone.localdate() + timedelta(days=tenant.share_max_days + 5)).isoformat()
    cases = [
        ({"max_downloads": "0"}, "share-limit-error", "Download limit must be a whole number of at least 1."),
        ({"expires": "soon"}, "share-expires-error", "Expires must be a date."),
        ({"expires": far}, "share-expires-error", f"Links in this tenant expire within {tenant.share_max_days} days."),
    ]
    for data, field, error in cases:
        response = panel(owner, tenant, file, "links/", data)
        html = response.content.decode()
        assert response["HX-Retarget"] == "#share-form"
        assert f'<p class="errorlist" id="{field}">{error}</p>' in html, error
    assert not ShareLink.objects.exists()


def test_revoking_a_link_and_who_sees_which_links(person, tenant):
    owner, admin, viewer = person(Role.EDITOR), person(Role.ADMIN), person(Role.VIEWER)
    file = put(owner, tenant, TEXT, process=False)
    panel(owner, tenant, file, "links/", {"max_downloads": "5"})
    link = ShareLink.objects.get(file=file)
    # An admin sees every link; a viewer none and no Share button.
    assert f"by {owner.user.username}" in panel(admin, tenant, file, "links/").content.decode()
    seen = panel(viewer, tenant, file, "links/").content.decode()
    assert "No share links of yours to this file." in seen and ">Share</button>" not in seen
    assert panel(viewer, tenant, file, "links/", {"max_downloads": "1"}).status_code == 403
    assert panel(viewer, tenant, file, f"links/{link.pk}/revoke/", {}).status_code == 404
    html = panel(owner, tenant, file, f"links/{link.pk}/revoke/", {}).content.decode()
    link.refresh_from_db()
    assert link.revoked_at is not None and ">revoked</span>" in html


def test_the_panels_make_the_same_queries_whatever_they_list(person, tenant):
    owner = person(Role.OWNER)
    file = put(owner, tenant, TEXT, process=False)
    colleagues = [person(Role.EDITOR) for _ in range(4)]

    def counts() -> tuple[int, int]:
        result = []
        for name in ("permissions/", "links/"):
            with CaptureQueriesContext(connection) as captured:
                assert panel(owner, tenant, file, name).status_code == 200
            result.append(len(captured))
        return tuple(result)

    grant_set(membership=owner.membership, target=file, permissions=["view"], user_id=colleagues[0].user.pk)
    panel(owner, tenant, file, "links/", {})
    few = counts()
    for colleague in colleagues[1:]:
        grant_set(membership=owner.membership, target=file, permissions=["view", "share"], user_id=colleague.user.pk)
        panel(owner, tenant, file, "links/", {})
    assert counts() == few == PANEL_QUERIES


PANEL_QUERIES = (7, 5)


# --- Activity ---------------------------------------------------------------------------


def test_the_file_activity_lists_its_events_newest_first(person, tenant):
    owner, colleague = person(Role.EDITOR), person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    owner.web.post(page_url(tenant, file, "edit/"), {"name": file.name, "tags": "essay"})
    owner.web.get(f"/t/{tenant.slug}/files/{file.pk}/download/")
    html = panel(owner, tenant, file, "activity/").content.decode()
    said = re.findall(r"</strong> ([^<]+)</li>", html)
    assert said == ["downloaded it", "changed its tags", "uploaded it"]
    # Others' files' activity is their owner's and the admins' to read.
    assert panel(colleague, tenant, file, "activity/").status_code == 204


def test_the_activity_api_filters_by_file_with_the_same_rule(person, tenant):
    owner, colleague = person(Role.EDITOR), person(Role.EDITOR)
    file = put(owner, tenant, TEXT, process=False)
    put(colleague, tenant, TEXT, name="other.txt", process=False)
    url = f"/api/v1/tenants/{tenant.slug}/analytics/activity/"
    mine = owner.api.get(url, {"file": str(file.pk)})
    assert mine.status_code == 200
    assert [(e["verb"], e["target_id"]) for e in mine.json()["results"]] == [("file.uploaded", str(file.pk))]
    assert colleague.api.get(url, {"file": str(file.pk)}).status_code == 403
    assert owner.api.get(url).status_code == 403  # the whole trail stays with owners and admins
