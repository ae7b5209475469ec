"""The team's groups page: owners and admins create, rename, fill and delete groups through
sharing.services.groups; members read; outsiders and foreign ids get 404."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import ActivityEvent, Role, TenantGroup
from sharing.services.groups import group_create
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def admin(tenant):
    return MembershipFactory(tenant=tenant, role=Role.ADMIN)


def members_of(group: TenantGroup) -> set[str]:
    return set(group.group.user_set.values_list("username", flat=True))


def test_an_admin_creates_fills_renames_and_deletes_a_group(tenant, admin):
    editor = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    client = signed_in(admin.user)
    base = f"/t/{tenant.slug}/groups/"
    assert "No groups yet." in client.get(base).content.decode()
    assert client.post(base, {"name": "Designers"}).status_code == 302
    group = TenantGroup.objects.get(tenant=tenant, name="Designers")
    assert client.post(f"{base}{group.pk}/members/add/", {"user": str(editor.user_id)}).status_code == 302
    assert client.post(f"{base}{group.pk}/members/add/", {"user": str(admin.user_id)}).status_code == 302
    assert members_of(group) == {editor.user.username, admin.user.username}
    page = client.get(base).content.decode()
    assert f"Remove {editor.user.username} from Designers" in page and "Add member to Designers" in page
    assert client.post(f"{base}{group.pk}/members/{editor.user_id}/remove/").status_code == 302
    assert members_of(group) == {admin.user.username}
    assert client.post(f"{base}{group.pk}/rename/", {"name": "Art"}).status_code == 302
    group.refresh_from_db()
    assert group.name == "Art"
    assert client.post(f"{base}{group.pk}/delete/").status_code == 302
    assert not TenantGroup.objects.filter(pk=group.pk).exists()
    verbs = list(ActivityEvent.objects.filter(tenant=tenant, verb__startswith="group.").values_list("verb", flat=True))
    assert sorted(set(verbs)) == ["group.created", "group.deleted", "group.updated"]


def test_group_refusals_are_shown_inline(tenant, admin):
    client = signed_in(admin.user)
    base = f"/t/{tenant.slug}/groups/"
    group = group_create(membership=admin, name="Designers")
    group_create(membership=admin, name="Editors")
    taken = client.post(base, {"name": "designers"})
    assert taken.status_code == 409 and "A group with that name exists." in taken.content.decode()
    blank = client.post(base, {"name": ""})
    assert blank.status_code == 400 and "This field is required." in blank.content.decode()
    rename = client.post(f"{base}{group.pk}/rename/", {"name": "Editors"})
    assert rename.status_code == 409 and "A group with that name exists." in rename.content.decode()
    outsider = MembershipFactory(role=Role.EDITOR)  # a member of another team
    stranger = client.post(f"{base}{group.pk}/members/add/", {"user": str(outsider.user_id)})
    assert stranger.status_code == 400 and "must be a member of this tenant" in stranger.content.decode()
    none = client.post(f"{base}{group.pk}/members/add/", {"user": ""})
    assert none.status_code == 400 and "Choose a member to add." in none.content.decode()
    assert TenantGroup.objects.filter(tenant=tenant).count() == 2 and members_of(group) == set()


def test_members_read_groups_viewers_cannot_change_them_and_foreign_ids_are_404(tenant, admin):
    group = group_create(membership=admin, name="Designers", member_ids=[str(admin.user_id)])
    viewer = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    client = signed_in(viewer.user)
    base = f"/t/{tenant.slug}/groups/"
    page = client.get(base).content.decode()
    assert "Designers" in page and admin.user.username in page
    assert "New group" not in page and "Delete group" not in page
    assert client.post(base, {"name": "Mine"}).status_code == 403
    assert client.post(f"{base}{group.pk}/rename/", {"name": "Mine"}).status_code == 403
    assert client.post(f"{base}{group.pk}/members/add/", {"user": str(viewer.user_id)}).status_code == 403
    assert client.post(f"{base}{group.pk}/delete/").status_code == 403
    group.refresh_from_db()
    assert group.name == "Designers" and members_of(group) == {admin.user.username}

    other = MembershipFactory(role=Role.OWNER)
    foreign = group_create(membership=other, name="Theirs")
    admin_client = signed_in(admin.user)
    assert admin_client.post(f"{base}{foreign.pk}/delete/").status_code == 404
    assert admin_client.post(f"{base}{foreign.pk}/rename/", {"name": "x"}).status_code == 404
    assert admin_client.get(f"/t/{other.tenant.slug}/groups/").status_code == 404
    assert signed_in(other.user).get(base).status_code == 404
    assert TenantGroup.objects.filter(pk=foreign.pk, name="Theirs").exists()


def test_the_groups_page_runs_the_same_queries_for_one_group_or_many(tenant, admin, django_assert_num_queries):
    client = signed_in(admin.user)
    users = [MembershipFactory(tenant=tenant, role=Role.EDITOR).user_id for _ in range(3)]
    group_create(membership=admin, name="G0", member_ids=[str(users[0])])
    client.get(f"/t/{tenant.slug}/groups/")  # session and CSRF cookie settle
    with django_assert_num_queries(6) as first:
        client.get(f"/t/{tenant.slug}/groups/")
    for n in range(1, 6):
        group_create(membership=admin, name=f"G{n}", member_ids=[str(u) for u in users])
    with django_assert_num_queries(len(first.captured_queries)):
        assert "G5" in client.get(f"/t/{tenant.slug}/groups/").content.decode()
