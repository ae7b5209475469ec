from __future__ import annotations

import pytest

from accounts.models import ActivityEvent, Membership, Role, Tenant
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def test_create_tenant_makes_creator_owner(owner):
    response = owner.post("/api/v1/tenants/", {"name": "Design Team"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "design-team" and body["role"] == "owner"
    assert body["max_upload_bytes"] == 10 * 1024 * 1024
    assert Membership.objects.get(tenant__slug="design-team", user=owner.user).role == Role.OWNER


def test_taken_or_invalid_slug(owner, tenant):
    taken = owner.post("/api/v1/tenants/", {"name": "X", "slug": tenant.slug}, format="json")
    assert taken.status_code == 409 and taken.json()["code"] == "slug_taken"
    bad = owner.post("/api/v1/tenants/", {"name": "X", "slug": "Not A Slug"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_slug"


@pytest.mark.parametrize("slug", ["a__b", "a-", "-a", "a--b", " ab", "AB"])
def test_a_slug_is_exactly_what_the_schema_shows(owner, slug):
    # The schema's pattern is the whole rule; the service used to trim, lower and slugify.
    response = owner.post("/api/v1/tenants/", {"name": "X", "slug": slug}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_slug"
    assert owner.post("/api/v1/tenants/", {"name": "X", "slug": "a_b-2"}, format="json").status_code == 201


def test_a_reserved_slug_is_taken(owner):
    # It fits the pattern, so it is valid input; the site's own paths have it (a 400 before).
    response = owner.post("/api/v1/tenants/", {"name": "X", "slug": "admin"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "slug_taken"


def test_list_shows_only_my_tenants(owner, outsider, tenant):
    slugs = [t["slug"] for t in owner.get("/api/v1/tenants/").json()["results"]]
    assert slugs == [tenant.slug]
    assert tenant.slug not in [t["slug"] for t in outsider.get("/api/v1/tenants/").json()["results"]]


def test_non_member_gets_404_for_tenant_and_everything_under_it(outsider, tenant, member):
    someone = member(Role.VIEWER).user
    urls = [
        f"/api/v1/tenants/{tenant.slug}/",
        f"/api/v1/tenants/{tenant.slug}/members/",
        f"/api/v1/tenants/{tenant.slug}/members/{someone.id}/",
    ]
    for url in urls:
        response = outsider.get(url)
        assert response.status_code == 404, url
        assert response.json()["code"] == "not_found"
    assert outsider.patch(f"/api/v1/tenants/{tenant.slug}/", {"name": "pwned"}, format="json").status_code == 404
    response = outsider.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "x"}, format="json")
    assert response.status_code == 404
    assert outsider.delete(f"/api/v1/tenants/{tenant.slug}/members/{someone.id}/").status_code == 404
    tenant.refresh_from_db()
    assert tenant.name != "pwned"


def test_unknown_tenant_is_404_like_a_foreign_one(owner):
    assert owner.get("/api/v1/tenants/does-not-exist/").status_code == 404


def test_owner_and_admin_update_settings_viewer_and_editor_get_403(member, tenant):
    for role, expected in [(Role.VIEWER, 403), (Role.EDITOR, 403), (Role.ADMIN, 200), (Role.OWNER, 200)]:
        client = member(role)
        response = client.patch(
            f"/api/v1/tenants/{tenant.slug}/", {"name": f"by {role}", "trash_retention_days": 7}, format="json"
        )
        assert response.status_code == expected, role
        if expected == 403:
            assert response.json()["code"] == "permission_denied"
    tenant.refresh_from_db()
    assert tenant.name == "by owner" and tenant.trash_retention_days == 7
    assert ActivityEvent.objects.filter(tenant=tenant, verb="tenant.updated").count() == 2


def test_quota_is_not_a_tenant_setting_and_upload_limit_is_bounded(owner, tenant, settings):
    owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"quota_bytes": 1}, format="json")
    tenant.refresh_from_db()
    assert tenant.quota_bytes != 1
    response = owner.patch(
        f"/api/v1/tenants/{tenant.slug}/", {"max_upload_bytes": settings.PLATFORM_MAX_UPLOAD_BYTES + 1}, format="json"
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_limit"


def test_member_listing_is_paginated_and_visible_to_viewers(member, tenant):
    viewer = member(Role.VIEWER)
    member(Role.EDITOR)
    body = viewer.get(f"/api/v1/tenants/{tenant.slug}/members/").json()
    assert set(body) == {"results", "next", "previous"}
    assert {m["role"] for m in body["results"]} == {"viewer", "editor"}
    # Members see each other's names, never their e-mail addresses.
    assert set(body["results"][0]["user"]) == {"id", "username"}


def test_admin_adds_member_by_exact_username_and_never_sees_their_email(member, tenant):
    admin = member(Role.ADMIN)
    bob = UserFactory(username="bob", email="bob@example.com")
    carol = UserFactory(username="carol", email="carol@example.com")
    added = admin.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "bob", "role": "editor"}, format="json")
    assert added.status_code == 201 and added.json()["user"] == {"id": str(bob.id), "username": "bob"}
    assert "bob@example.com" not in added.content.decode()
    # An e-mail address finds nobody: adding by e-mail is an invitation, to a verified address.
    for body in ({"email": "CAROL@example.com"}, {"username": "carol@example.com"}):
        refused = admin.post(f"/api/v1/tenants/{tenant.slug}/members/", body, format="json")
        assert refused.status_code == 400, body
    assert not Membership.objects.filter(tenant=tenant, user=carol).exists()
    again = admin.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "bob"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_member"
    unknown = admin.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "nobody"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "unknown_user"
    # Once a member, bob sees the tenant.
    assert client_for(bob).get(f"/api/v1/tenants/{tenant.slug}/").json()["role"] == "editor"


def test_viewer_and_editor_cannot_manage_members(member, tenant):
    target = member(Role.VIEWER).user
    UserFactory(username="newbie")
    for role in (Role.VIEWER, Role.EDITOR):
        client = member(role)
        assert (
            client.post(f"/api/v1/tenants/{tenant.slug}/members/", {"username": "newbie"}, format="json").status_code
            == 403
        )
        url = f"/api/v1/tenants/{tenant.slug}/members/{target.id}/"
        assert client.patch(url, {"role": "admin"}, format="json").status_code == 403
        assert client.delete(url).status_code == 403
    assert Membership.objects.get(tenant=tenant, user=target).role == Role.VIEWER


def test_admin_cannot_touch_owners_or_make_owners(member, tenant):
    owner = member(Role.OWNER).user
    admin = member(Role.ADMIN)
    editor = member(Role.EDITOR).user
    url = f"/api/v1/tenants/{tenant.slug}/members/"
    assert admin.patch(f"{url}{owner.id}/", {"role": "viewer"}, format="json").status_code == 403
    assert admin.delete(f"{url}{owner.id}/").status_code == 403
    assert admin.patch(f"{url}{editor.id}/", {"role": "owner"}, format="json").status_code == 403
    assert admin.patch(f"{url}{editor.id}/", {"role": "admin"}, format="json").status_code == 200
    assert Membership.objects.get(tenant=tenant, user=owner).role == Role.OWNER


def test_last_owner_can_be_neither_demoted_nor_removed(member, tenant):
    owner = member(Role.OWNER)
    url = f"/api/v1/tenants/{tenant.slug}/members/{owner.user.id}/"
    demote = owner.patch(url, {"role": "admin"}, format="json")
    assert demote.status_code == 409 and demote.json()["code"] == "last_owner"
    remove = owner.delete(url)
    assert remove.status_code == 409 and remove.json()["code"] == "last_owner"
    assert Membership.objects.get(tenant=tenant, user=owner.user).role == Role.OWNER

    # With a second owner, the first may step down, and then the second is the last one.
    second = member(Role.OWNER)
    assert owner.patch(url, {"role": "admin"}, format="json").status_code == 200
    assert second.delete(f"/api/v1/tenants/{tenant.slug}/members/{second.user.id}/").status_code == 409


def test_members_may_leave_and_removal_revokes_access(member, tenant):
    member(Role.OWNER)
    viewer = member(Role.VIEWER)
    assert viewer.delete(f"/api/v1/tenants/{tenant.slug}/members/{viewer.user.id}/").status_code == 204
    assert viewer.get(f"/api/v1/tenants/{tenant.slug}/").status_code == 404
    assert ActivityEvent.objects.filter(tenant=tenant, verb="member.removed").exists()


def test_member_of_other_tenant_is_404_inside_mine(member, tenant):
    admin = member(Role.ADMIN)
    stranger = MembershipFactory(role=Role.OWNER).user
    url = f"/api/v1/tenants/{tenant.slug}/members/{stranger.id}/"
    assert admin.get(url).status_code == 404
    assert admin.patch(url, {"role": "viewer"}, format="json").status_code == 404
    assert admin.delete(url).status_code == 404
    assert Tenant.objects.filter(memberships__user=stranger).exists()
