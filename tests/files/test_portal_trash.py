"""The trash page (portal-trash): entries, restore, purge one, empty; the API's refusals."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from accounts.models import Role
from files.models import File, Folder
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import tenant_objects, upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


class Member:
    """A member's signed-in browser (CSRF enforced, as in a real one) and their API client."""

    def __init__(self, tenant, role=Role.EDITOR):
        self.membership = MembershipFactory(tenant=tenant, role=role)
        self.user = self.membership.user
        self.web = Client(enforce_csrf_checks=True)
        assert self.web.login(username=self.user.username, password=PASSWORD)
        self.api = client_for(self.user)
        self.tenant = tenant

    def page(self) -> str:
        response = self.web.get(f"/t/{self.tenant.slug}/trash/")
        assert response.status_code == 200
        return response.content.decode()

    def post(self, action: str, **kw):
        self.web.get(f"/t/{self.tenant.slug}/trash/")
        token = self.web.cookies["csrftoken"].value
        return self.web.post(f"/t/{self.tenant.slug}/trash/{action}", {"csrfmiddlewaretoken": token}, **kw)

    def trash(self, kind: str, item_id) -> None:
        assert self.api.delete(f"/api/v1/tenants/{self.tenant.slug}/{kind}s/{item_id}/").status_code == 204


def messages_of(response) -> str:
    return " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', response.content.decode()))


def test_entries_show_kind_original_place_who_and_when_they_go(tenant):
    editor = Member(tenant)
    folder = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Plans"}, format="json").json()
    file = upload(editor.api, tenant, "budget.xlsx", b"numbers", folder=folder["id"]).json()
    other = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Old stuff"}, format="json").json()
    editor.trash("file", file["id"])
    editor.trash("folder", other["id"])
    tenant.trash_retention_days = 10
    tenant.save(update_fields=["trash_retention_days"])

    page = editor.page()

    assert "budget.xlsx" in page and "/Plans/budget.xlsx" in page and "Old stuff" in page
    assert f"by {editor.user.username}" in page
    deleted = File.objects.get(pk=file["id"]).deleted_at
    assert (deleted + timedelta(days=10)).strftime("%Y-%m-%d") in page  # the purge date's datetime attribute
    assert 'aria-label="Restore budget.xlsx"' in page and 'aria-label="Delete budget.xlsx for good"' in page
    assert "data-confirm=" in page and "Empty trash" in page


def test_restore_puts_a_file_back_or_in_the_root_when_its_folder_is_gone(tenant):
    editor = Member(tenant)
    folder = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Plans"}, format="json").json()
    kept = upload(editor.api, tenant, "kept.txt", b"1", folder=folder["id"]).json()
    orphan = upload(editor.api, tenant, "orphan.txt", b"2", folder=folder["id"]).json()
    editor.trash("file", kept["id"])
    response = editor.post(f"{kept['id']}/restore/", follow=True)
    assert "Restored “kept.txt” to /Plans/." in messages_of(response)
    assert File.objects.get(pk=kept["id"]).deleted_at is None

    editor.trash("file", orphan["id"])
    editor.trash("folder", folder["id"])
    response = editor.post(f"{orphan['id']}/restore/", follow=True)
    assert "Restored “orphan.txt” to /." in messages_of(response)
    restored = File.objects.get(pk=orphan["id"])
    assert restored.deleted_at is None and restored.folder is None


def test_purge_one_and_empty_delete_rows_and_bytes(tenant, after_commit):
    editor = Member(tenant)
    one = upload(editor.api, tenant, "one.txt", b"first bytes").json()
    two = upload(editor.api, tenant, "two.txt", b"second bytes").json()
    editor.trash("file", one["id"])
    editor.trash("file", two["id"])
    with after_commit():
        purged = editor.post(f"{one['id']}/purge/", follow=True)
    assert "Deleted for good." in messages_of(purged)
    assert not File.objects.filter(pk=one["id"]).exists() and File.objects.filter(pk=two["id"]).exists()
    with after_commit():
        emptied = editor.post("empty/", follow=True)
    assert "1 file deleted for good" in messages_of(emptied)
    assert not File.objects.filter(tenant=tenant).exists() and tenant_objects(tenant) == []
    assert "The trash is empty." in editor.page()


def test_a_folder_holding_others_files_is_refused_with_the_reason_and_kept(tenant):
    e, x, admin = Member(tenant), Member(tenant), Member(tenant, Role.ADMIN)
    team = e.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Team"}, format="json").json()
    salary = upload(x.api, tenant, "salary.xlsx", b"x's salary", folder=team["id"]).json()
    x.api.patch(f"/api/v1/tenants/{tenant.slug}/files/{salary['id']}/", {"visibility": "private"}, format="json")
    admin.trash("folder", team["id"])

    refused = e.post(f"{team['id']}/purge/", follow=True)

    assert "This folder holds files you may not delete." in messages_of(refused)
    assert Folder.objects.filter(pk=team["id"]).exists() and File.objects.filter(pk=salary["id"]).exists()
    emptied = e.post("empty/", follow=True)
    assert "Some folders stay" in messages_of(emptied) and Folder.objects.filter(pk=team["id"]).exists()


def test_others_entries_are_hidden_and_404_viewers_see_an_empty_trash(tenant):
    editor, colleague, viewer = Member(tenant), Member(tenant), Member(tenant, Role.VIEWER)
    file = upload(editor.api, tenant, "mine.txt", b"mine").json()
    editor.trash("file", file["id"])

    assert "mine.txt" not in colleague.page()
    assert colleague.post(f"{file['id']}/restore/").status_code == 404
    assert colleague.post(f"{file['id']}/purge/").status_code == 404
    assert "The trash is empty." in viewer.page() and "Empty trash" not in viewer.page()
    assert File.objects.get(pk=file["id"]).deleted_at is not None
    # An owner sees and may restore everyone's entries.
    owner = Member(tenant, Role.OWNER)
    assert "mine.txt" in owner.page()
    assert owner.post(f"{file['id']}/restore/").status_code == 302


def test_outsiders_and_other_teams_get_404_and_get_cannot_change_anything(tenant):
    editor = Member(tenant)
    file = upload(editor.api, tenant, "mine.txt", b"mine").json()
    editor.trash("file", file["id"])
    outsider = Member(MembershipFactory(role=Role.OWNER).tenant, Role.OWNER)
    outsider.tenant = tenant
    assert outsider.web.get(f"/t/{tenant.slug}/trash/").status_code == 404
    assert editor.web.get(f"/t/{tenant.slug}/trash/{file['id']}/restore/").status_code == 405
    # Without the CSRF token nothing happens.
    assert editor.web.post(f"/t/{tenant.slug}/trash/{file['id']}/purge/").status_code == 403
    assert File.objects.filter(pk=file["id"]).exists()


def test_a_name_like_markup_is_text(tenant):
    editor = Member(tenant)
    file = upload(editor.api, tenant, "<script>alert(1).txt", b"x").json()
    editor.trash("file", file["id"])
    page = editor.page()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1).txt" in page
