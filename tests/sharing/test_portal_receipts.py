"""Share receipts in the portal: the receipts page of a link, the `Receipts` links of the file
page's links panel and of the Shares page, and the share dialog's first-open checkbox."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Role
from sharing.models import ShareLink
from tests.factories import TenantFactory
from tests.files.test_portal_file_page import TEXT, put, someone

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def receipts_url(tenant, link) -> str:
    return f"/t/{tenant.slug}/shares/{link['id']}/receipts/"


def shared(who, tenant, **fields) -> tuple:
    file = put(who, tenant, TEXT, process=False)
    response = who.api.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"file": str(file.pk), **fields}, format="json")
    assert response.status_code == 201, response.content
    return file, response.json()


def test_the_receipts_page_shows_counts_by_day_and_network(tenant):
    creator = someone(tenant)
    file, link = shared(creator, tenant)
    for ip in ("203.0.113.7", "203.0.113.8", "198.51.100.20"):
        assert Client(REMOTE_ADDR=ip).get(f"/s/{link['token']}").status_code == 200
    assert Client(REMOTE_ADDR="198.51.100.20").get(f"/s/{link['token']}/download").status_code == 302
    response = creator.web.get(receipts_url(tenant, link))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Receipts of the link to “{file.name}”" in html
    assert '<tr><th scope="row">Opens</th><td class="num">3</td></tr>' in html
    assert '<tr><th scope="row">Downloads</th><td class="num">1</td></tr>' in html
    assert '<th scope="row">203.0.113.0/24</th><td class="num">2</td><td class="num">0</td>' in html
    assert '<th scope="row">198.51.100.0/24</th><td class="num">1</td><td class="num">1</td>' in html
    assert "203.0.113.7" not in html and "198.51.100.20" not in html
    assert f"/api/v1/tenants/{tenant.slug}/shares/{link['id']}/receipts/?export=csv" in html
    exported = creator.web.get(f"/api/v1/tenants/{tenant.slug}/shares/{link['id']}/receipts/?export=csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")


def test_the_receipts_page_is_the_creators_and_the_admins(tenant):
    creator = someone(tenant)
    _file, link = shared(creator, tenant)
    url = receipts_url(tenant, link)
    assert someone(tenant, Role.OWNER).web.get(url).status_code == 200
    assert someone(tenant, Role.ADMIN).web.get(url).status_code == 200
    assert someone(tenant, Role.EDITOR).web.get(url).status_code == 404
    stranger = someone(TenantFactory(), Role.OWNER)
    assert stranger.web.get(url).status_code == 404
    assert stranger.web.get(f"/t/{stranger.membership.tenant.slug}/shares/{link['id']}/receipts/").status_code == 404


def test_each_listed_link_leads_to_its_receipts(tenant):
    creator = someone(tenant)
    file, link = shared(creator, tenant)
    Client().get(f"/s/{link['token']}")
    panel = creator.web.get(f"/t/{tenant.slug}/files/{file.pk}/links/", **HTMX).content.decode()
    assert f'href="{receipts_url(tenant, link)}"' in panel and ">Receipts</a>" in panel
    assert '<td class="num">1</td>' in panel  # one open
    page = creator.web.get(f"/t/{tenant.slug}/shares/").content.decode()
    assert f'href="{receipts_url(tenant, link)}"' in page and ">Receipts</a>" in page


def test_the_share_dialog_asks_to_be_told_of_the_first_open(tenant):
    creator = someone(tenant)
    file = put(creator, tenant, TEXT, process=False)
    url = f"/t/{tenant.slug}/files/{file.pk}/links/"
    form = creator.web.get(url, **HTMX).content.decode()
    assert 'name="notify_on_first_open"' in form and "Tell me when it is first opened" in form
    assert creator.web.post(url, {"notify_on_first_open": "1"}, **HTMX).status_code == 200
    assert creator.web.post(url, {}, **HTMX).status_code == 200
    assert sorted(ShareLink.objects.filter(file=file).values_list("notify_on_first_open", flat=True)) == [False, True]
