"""The team's shares page (portal-shares): which links, their use and state, the filter, revoking."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from sharing.models import ShareLink
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


class Member:
    def __init__(self, tenant, role=Role.EDITOR):
        self.membership = MembershipFactory(tenant=tenant, role=role)
        self.user = self.membership.user
        self.web = Client(enforce_csrf_checks=True)
        assert self.web.login(username=self.user.username, password=PASSWORD)
        self.api = client_for(self.user)
        self.tenant = tenant

    def page(self, **params) -> str:
        response = self.web.get(f"/t/{self.tenant.slug}/shares/", params)
        assert response.status_code == 200
        return response.content.decode()

    def revoke(self, link_id, **kw):
        self.web.get(f"/t/{self.tenant.slug}/shares/")
        token = self.web.cookies["csrftoken"].value
        url = f"/t/{self.tenant.slug}/shares/{link_id}/revoke/"
        return self.web.post(url, {"csrfmiddlewaretoken": token}, **kw)

    def share(self, **body) -> dict:
        created = self.api.post(f"/api/v1/tenants/{self.tenant.slug}/shares/", body, format="json")
        assert created.status_code == 201, created.content
        return created.json()


def rows(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<th scope=\"row\".*?</tr>", page, flags=re.S)


def test_each_link_shows_its_target_use_and_state(tenant):
    editor = Member(tenant)
    file = upload(editor.api, tenant, "report.txt", b"quarterly report").json()
    folder = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Inbox"}, format="json").json()
    file_link = editor.share(file=file["id"], password="open sesame", max_downloads=3)
    editor.share(folder=folder["id"], allow_upload=True)
    visitor = Client()
    visitor.post(f"/s/{file_link['token']}", {"password": "open sesame"})
    visitor.get(f"/s/{file_link['token']}")
    visitor.get(f"/s/{file_link['token']}/download")

    page = editor.page()

    file_row, folder_row = sorted(rows(page), key=lambda row: "Inbox" in row)
    assert f'href="/t/{tenant.slug}/files/{file["id"]}/">report.txt</a>' in file_row
    assert f"by {editor.user.username}" in file_row and ">Yes<" in file_row
    assert re.search(r'data-label="Downloads">1 / 3</td>\s*<td class="num" data-label="Opens">1</td>', file_row)
    assert ">active<" in file_row
    assert f'href="/t/{tenant.slug}/folders/{folder["id"]}/">Inbox</a>' in folder_row
    assert "upload only" in folder_row and ">No<" in folder_row
    assert 'aria-label="Revoke the link to report.txt"' in file_row


def test_the_state_filter_and_every_state(tenant):
    editor = Member(tenant)
    names = {}
    for state in ("active", "expired", "exhausted", "revoked"):
        file = upload(editor.api, tenant, f"{state}.txt", state.encode()).json()
        names[state] = editor.share(file=file["id"], max_downloads=1)["id"]
    ShareLink.objects.filter(pk=names["expired"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    ShareLink.objects.filter(pk=names["exhausted"]).update(download_count=1)
    ShareLink.objects.filter(pk=names["revoked"]).update(revoked_at=timezone.now())

    assert len(rows(editor.page())) == 4
    for state in names:
        shown = rows(editor.page(state=state))
        assert len(shown) == 1 and f"{state}.txt" in shown[0] and f">{state}<" in shown[0], state
    assert 'aria-current="page">Expired<' in editor.page(state="expired")
    assert len(rows(editor.page(state="bogus"))) == 4  # an unknown state filters nothing


def test_revoke_stops_the_link(tenant):
    editor = Member(tenant)
    file = upload(editor.api, tenant, "report.txt", b"numbers").json()
    link = editor.share(file=file["id"])
    assert Client().get(f"/s/{link['token']}").status_code == 200

    response = editor.revoke(link["id"], follow=True)

    assert "Revoked the link to “report.txt”." in response.content.decode()
    assert ShareLink.objects.get(pk=link["id"]).revoked_at is not None
    assert Client().get(f"/s/{link['token']}").status_code == 410
    assert ">revoked<" in editor.page() and "Revoke the link" not in editor.page()


def test_members_see_their_own_links_managers_all_and_others_are_404(tenant):
    editor, colleague, admin = Member(tenant), Member(tenant), Member(tenant, Role.ADMIN)
    file = upload(editor.api, tenant, "mine.txt", b"mine").json()
    link = editor.share(file=file["id"])

    assert "mine.txt" not in colleague.page()
    assert colleague.revoke(link["id"]).status_code == 404
    assert ShareLink.objects.get(pk=link["id"]).revoked_at is None
    assert "mine.txt" in admin.page()
    assert admin.revoke(link["id"]).status_code == 302

    outsider = Member(MembershipFactory(role=Role.OWNER).tenant, Role.OWNER)
    assert outsider.web.get(f"/t/{tenant.slug}/shares/").status_code == 404
    assert outsider.web.post(f"/t/{tenant.slug}/shares/{link['id']}/revoke/").status_code in (403, 404)
    anonymous = Client().get(f"/t/{tenant.slug}/shares/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def test_the_page_makes_the_same_queries_for_2_or_20_links(tenant):
    editor = Member(tenant)
    counts = []
    for total in (2, 20):
        while ShareLink.objects.filter(tenant=tenant).count() < total:
            file = upload(editor.api, tenant, f"f{ShareLink.objects.count()}.txt", b"x").json()
            editor.share(file=file["id"])
        editor.page()
        with CaptureQueriesContext(connection) as queries:
            assert len(rows(editor.page())) == total
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_a_name_like_markup_is_text(tenant):
    editor = Member(tenant)
    file = upload(editor.api, tenant, "<script>alert(1).txt", b"x").json()
    editor.share(file=file["id"])
    page = editor.page()
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1).txt" in page
