"""Team settings → Exports (portal-exports): the list, starting one, the live table, the
download and its refusals, on the services the API's `exports/` uses."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from files.models import Export
from files.services import exports
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


class Member:
    """A member's signed-in browser (CSRF enforced, as in a real one) and their API client."""

    def __init__(self, tenant, role=Role.OWNER):
        self.membership = MembershipFactory(tenant=tenant, role=role)
        self.web = Client(enforce_csrf_checks=True)
        assert self.web.login(username=self.membership.user.username, password=PASSWORD)
        self.api = client_for(self.membership.user)
        self.base = f"/t/{tenant.slug}/settings/exports/"

    def start(self):
        self.web.get(f"/t/{self.membership.tenant.slug}/settings/")
        token = self.web.cookies["csrftoken"].value
        return self.web.post(self.base, {"csrfmiddlewaretoken": token}, follow=True)


def messages_of(response) -> str:
    return " ".join(re.findall(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', response.content.decode()))


def test_settings_link_to_exports_for_owners_and_admins_only(tenant):
    owner, editor = Member(tenant), Member(tenant, Role.EDITOR)
    settings_page = owner.web.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert f'href="{owner.base}"' in settings_page
    assert owner.base not in editor.web.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert editor.web.get(editor.base).status_code == 403
    assert editor.web.get(editor.base + "status/").status_code == 403


def test_starting_an_export_lists_it_and_polls_until_ready(tenant):
    owner = Member(tenant)
    upload(owner.api, tenant, "a.txt", b"a")
    assert "No exports yet." in owner.web.get(owner.base).content.decode()
    started = owner.start()
    assert started.status_code == 200 and "Export started." in messages_of(started)
    page = started.content.decode()
    assert 'hx-trigger="every 2s"' in page and ">pending<" in page and "download/" not in page
    refused = owner.start()
    assert "An export of this team is being made" in messages_of(refused)
    assert Export.objects.filter(tenant=tenant).count() == 1

    export = Export.objects.get(tenant=tenant)
    assert exports.export_run(export_id=export.pk) == "ready"
    table = owner.web.get(owner.base + "status/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in table and ">ready<" in table
    link = f"{owner.base}{export.pk}/download/"
    assert f'href="{link}"' in table
    download = owner.web.get(link)
    assert download.status_code == 302 and download["Location"].startswith("http")


def test_an_expired_export_has_no_download(tenant):
    owner = Member(tenant)
    upload(owner.api, tenant, "a.txt", b"a")
    owner.start()
    export = Export.objects.get(tenant=tenant)
    exports.export_run(export_id=export.pk)
    Export.objects.filter(pk=export.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    exports.exports_expire()
    page = owner.web.get(owner.base).content.decode()
    assert ">expired<" in page and "download/" not in page
    answer = owner.web.get(f"{owner.base}{export.pk}/download/", follow=True)
    assert "This export has expired" in messages_of(answer)


def test_another_teams_export_is_the_404_page(tenant):
    owner = Member(tenant)
    owner.start()
    export = Export.objects.get(tenant=tenant)
    stranger = MembershipFactory(role=Role.OWNER)
    web = Client()
    assert web.login(username=stranger.user.username, password=PASSWORD)
    assert web.get(f"/t/{stranger.tenant.slug}/settings/exports/{export.pk}/download/").status_code == 404
    assert web.get(owner.base).status_code == 404
