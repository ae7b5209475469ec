"""The search page (portal-search): results, highlights, facets, filters, paging, refusals."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from files.models import File
from files.services.processing_run import file_process
from files.views import search as views_search
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import upload
from tests.helpers import CORPUS, client_for

pytestmark = pytest.mark.django_db


def signed_in(tenant, role=Role.EDITOR) -> Client:
    membership = MembershipFactory(tenant=tenant, role=role)
    client = Client()
    assert client.login(username=membership.user.username, password=PASSWORD)
    client.user = membership.user
    client.api = client_for(membership.user)
    return client


@pytest.fixture
def member_browser(tenant):
    return signed_in(tenant)


def url(tenant) -> str:
    return f"/t/{tenant.slug}/search/"


def html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def result_links(page: str, tenant) -> dict[str, str]:
    """File id → the text of its result link (the link people and screen readers get)."""
    pattern = rf'<a class="name" href="/t/{tenant.slug}/files/([0-9a-f-]+)/">(.*?)</a>'
    return dict(re.findall(pattern, page))


def test_results_link_by_name_to_the_file_page_with_the_match_marked(member_browser, tenant):
    api = member_browser.api
    folder = api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Reports"}, format="json").json()
    hit = upload(api, tenant, "memo.txt", b"nothing", description="The walrus & the carpenter", folder=folder["id"])
    upload(api, tenant, "other.txt", b"nothing", description="a carpenter alone")

    page = html(member_browser.get(url(tenant), {"q": "walrus"}))

    assert result_links(page, tenant) == {hit.json()["id"]: "memo.txt"}
    assert '<p class="snippet"><mark>walrus</mark> &amp; the carpenter' in page
    assert "/Reports/" in page  # the folder it is in
    assert 'aria-label="Search"' in page and 'value="walrus"' in page


def test_a_file_named_like_markup_is_shown_as_text(member_browser, tenant):
    upload(member_browser.api, tenant, "<script>alert(1).txt", b"x", description="<b>bold</b> walrus")

    page = html(member_browser.get(url(tenant), {"q": "walrus"}))

    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1).txt" in page
    assert "<b>" not in page and re.search(r'class="snippet">bold\s+<mark>walrus</mark>', page)


def test_facets_count_and_toggle_filters(member_browser, tenant):
    api = member_browser.api
    photo = (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()
    taken = upload(api, tenant, "court.jpg", photo, tags=["holiday"], description="walrus").json()
    assert file_process(file_id=taken["id"]) == "completed"
    note = upload(api, tenant, "note.txt", b"walrus notes", tags=["holiday", "work"], description="walrus").json()

    page = html(member_browser.get(url(tenant), {"q": "walrus"}))
    assert set(result_links(page, tenant)) == {taken["id"], note["id"]}
    # Each facet value links to the same search with that filter added.
    assert re.search(
        r'href="[^"]*tag=work[^"]*"[^>]*>\s*<span class="facet-value">work</span> <span class="count">1', page
    )
    assert re.search(r'<span class="facet-value">holiday</span> <span class="count">2', page)
    assert re.search(r'<span class="facet-value">2003</span> <span class="count">1', page)  # the capture year

    by_tag = html(member_browser.get(url(tenant), {"q": "walrus", "tag": "work"}))
    assert set(result_links(by_tag, tenant)) == {note["id"]}
    assert 'aria-current="true"' in by_tag and '<input type="hidden" name="tag" value="work">' in by_tag
    by_year = html(member_browser.get(url(tenant), {"q": "walrus", "year": "2003"}))
    assert set(result_links(by_year, tenant)) == {taken["id"]}
    by_type = html(member_browser.get(url(tenant), {"q": "walrus", "type": "image"}))
    assert set(result_links(by_type, tenant)) == {taken["id"]}


def test_date_taken_and_size_filters(member_browser, tenant):
    api = member_browser.api
    photo = upload(api, tenant, "court.jpg", (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()).json()
    file_process(file_id=photo["id"])  # taken 2003-11-23, 80 kB
    small = upload(api, tenant, "small.txt", b"tiny").json()

    def found(**params):
        return set(result_links(html(member_browser.get(url(tenant), params)), tenant))

    assert found(taken_from="2003-11-23", taken_to="2003-11-23") == {photo["id"]}  # "to" includes its day
    assert found(taken_from="2003-11-24") == set()
    assert found(min_mb="0.05") == {photo["id"]}
    assert found(max_mb="0.001") == {small["id"]}
    bad = html(member_browser.get(url(tenant), {"min_mb": "lots", "taken_to": "23/11/2003"}))
    assert "Sizes are numbers of megabytes" in bad and "Dates are written YYYY-MM-DD." in bad
    assert 'aria-invalid="true"' in bad and result_links(bad, tenant) == {}


def test_did_you_mean_links_to_the_corrected_search(member_browser, tenant):
    file = upload(member_browser.api, tenant, "carpenter.txt", b"x").json()

    page = html(member_browser.get(url(tenant), {"q": "carpnter"}))

    assert re.search(r'Did you mean <a href="[^"]*\?q=carpenter"[^>]*>carpenter</a>', page)
    assert set(result_links(page, tenant)) == {file["id"]}


def test_htmx_requests_get_the_results_area_and_more_results_the_next_rows(member_browser, tenant, monkeypatch):
    monkeypatch.setattr(views_search, "PAGE_SIZE", 2)
    ids = [upload(member_browser.api, tenant, f"n{i}.txt", b"x", description="walrus").json()["id"] for i in range(5)]

    response = member_browser.get(url(tenant), {"q": "walrus", "taken_from": "", "tag": ""}, HTTP_HX_REQUEST="true")
    area = html(response)
    assert re.match(r'\s*<title>“walrus” · Search · [^<]+</title>\s*<div id="search-area"', area)
    assert "<html" not in area
    assert response["HX-Push-Url"] == f"/t/{tenant.slug}/search/?q=walrus"  # without the empty fields
    first = list(result_links(area, tenant))
    more = re.search(r'<a class="btn" href="([^"]+)"[^>]*>More results</a>', area).group(1).replace("&amp;", "&")

    rows = html(member_browser.get(more, HTTP_HX_REQUEST="true"))
    assert rows.lstrip().startswith('<li class="result">') and "search-area" not in rows
    second = list(result_links(rows, tenant))
    assert len(first) == len(second) == 2 and not set(first) & set(second)
    assert set(first + second) < set(ids)
    # Without htmx, a page is a whole page (a reload, or a link opened in a new tab).
    assert "<html" in html(member_browser.get(more))


def test_what_a_member_may_not_see_is_not_found_and_outsiders_get_404(member_browser, tenant):
    owner = signed_in(tenant, Role.OWNER)
    private = upload(owner.api, tenant, "salaries.txt", b"x", description="walrus").json()
    owner.api.patch(f"/api/v1/tenants/{tenant.slug}/files/{private['id']}/", {"visibility": "private"}, format="json")

    assert private["id"] in result_links(html(owner.get(url(tenant), {"q": "walrus"})), tenant)
    assert result_links(html(member_browser.get(url(tenant), {"q": "walrus"})), tenant) == {}

    outsider = signed_in(MembershipFactory(role=Role.OWNER).tenant)
    assert outsider.get(url(tenant), {"q": "walrus"}).status_code == 404
    anonymous = Client().get(url(tenant))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def _photos(api, tenant, count: int) -> None:
    """`count` completed photos sharing one blob (and so its thumbnail), found by "zebra"."""
    data = (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()
    first = upload(api, tenant, "zebra-0.jpg", data, description="zebra").json()
    assert file_process(file_id=first["id"]) == "completed"
    for i in range(1, count):
        upload(api, tenant, f"zebra-{i}.jpg", data, description="zebra")
    File.objects.filter(tenant=tenant).update(status="completed")


def _queries(client, tenant) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = html(client.get(url(tenant), {"q": "zebra"}))
    return len(queries), page


@pytest.mark.parametrize("count", [5, 40])
def test_the_search_page_makes_the_same_queries_for_5_or_40_hits(
    member_browser, tenant, count, django_assert_num_queries
):
    _photos(member_browser.api, tenant, count)
    _queries(member_browser, tenant)  # warm the session and the search vocabulary

    with django_assert_num_queries(SEARCH_PAGE_QUERIES):
        page = html(member_browser.get(url(tenant), {"q": "zebra"}))

    assert len(result_links(page, tenant)) == count
    assert page.count('<img class="thumb"') == count


# Session, user, membership and teams (4), the search's transaction and work_mem (3), the
# search itself with its facets and snippets, renditions (1).
SEARCH_PAGE_QUERIES = 13


def test_unknown_ids_in_filters_are_shown_not_a_500(member_browser, tenant):
    page = html(member_browser.get(url(tenant), {"q": "x", "type": "spreadsheet"}))
    assert "type must be one of" in page
    assert member_browser.get(url(tenant), {"cursor": "bogus", "year": "20x3"}).status_code == 200
