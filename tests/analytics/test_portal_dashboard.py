"""Team settings → Analytics (portal-analytics): every section's numbers against a known set
of uploads, duplicates, downloads, tags and labels, counted by the real roll-ups; who may see
it; the CSV links; a constant number of queries."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from accounts.models import Role
from analytics.services import rollups, snapshots
from files.models import File, Folder
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

NOTES, README = b"meeting notes\n", b"read me\n"  # 14 and 8 bytes
# Session, user and membership; the latest storage snapshot (read by storage, file types,
# categories and cost each), the quota's use, the snapshot history, the usage hours and the
# active users: whatever the team holds. (The banner's alerts come from the cache, filled by
# the first team page.)
QUERIES = 11


class Tables(HTMLParser):
    """The page's tables by caption: each a list of rows, each a list of cell texts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] | None = None
        self._caption: str | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._rows, self._caption = [], ""
        elif tag == "tr" and self._rows is not None:
            self._rows.append([])
        elif tag in ("td", "th") and self._rows is not None:
            self._cell = []
        elif tag == "caption":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption" and self._cell is not None:
            self._caption, self._cell = " ".join("".join(self._cell).split()), None
        elif tag in ("td", "th") and self._cell is not None and self._rows:
            self._rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table" and self._rows is not None:
            self.tables[self._caption] = self._rows
            self._rows = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def row(tables: Tables, caption: str, header: str) -> list[str]:
    return next(cells for cells in tables.tables[caption] if cells and cells[0] == header)


class Member:
    """A member's signed-in browser and API client."""

    def __init__(self, tenant, role=Role.OWNER, username=None):
        extra = {"user__username": username} if username else {}
        self.membership = MembershipFactory(tenant=tenant, role=role, **extra)
        self.web = Client()
        assert self.web.login(username=self.membership.user.username, password=PASSWORD)
        self.api = client_for(self.membership.user)
        self.url = f"/t/{tenant.slug}/settings/analytics/"


def roll_up(tenant) -> None:
    """What the hourly tasks do: count the events into the usage roll-ups, snapshot storage."""
    rollups.usage_roll_up()
    snapshots.storage_snapshot(tenant=tenant)


@pytest.fixture
def known(tenant):
    """An owner, and an editor who uploaded notes.txt (into Plans, tags work and plans, label
    invoice), copy.txt (the same bytes: deduplicated) and readme.txt (tag work); the owner
    downloaded readme.txt once."""
    owner, editor = Member(tenant, username="olive"), Member(tenant, Role.EDITOR, username="eddie")
    plans = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Plans"}, format="json").json()
    files = [
        upload(
            editor.api, tenant, "notes.txt", NOTES, content_type="text/plain", folder=plans["id"], tags="work,plans"
        ),
        upload(editor.api, tenant, "copy.txt", NOTES, content_type="text/plain", tags="work"),
        upload(editor.api, tenant, "readme.txt", README, content_type="text/plain", tags="work"),
    ]
    assert all(r.status_code == 201 for r in files), [r.content for r in files]
    ids = [r.json()["id"] for r in files]
    File.objects.filter(pk=ids[0]).update(labels=[{"name": "invoice"}])
    download = owner.api.get(f"/api/v1/tenants/{tenant.slug}/files/{ids[2]}/download/")
    assert download.status_code == 302
    roll_up(tenant)
    return owner, editor


def test_settings_link_to_analytics_for_owners_and_admins_only(tenant, known):
    owner, editor = known
    assert f'href="{owner.url}"' in owner.web.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert owner.url not in editor.web.get(f"/t/{tenant.slug}/settings/").content.decode()


def test_the_owner_sees_every_section_with_the_numbers_of_the_uploads(tenant, known):
    owner, _editor = known
    response = owner.web.get(owner.url)
    assert response.status_code == 200
    page = response.content.decode()
    for heading in ("Storage", "File types", "By user", "By folder", "Activity", "Labels and tags", "Cost"):
        assert re.search(rf"<h2 id=\"[\w-]+\">{heading}</h2>", page), heading
    tables = Tables(page)

    assert row(tables, "Storage now", "Files (every version)")[1] == "36 bytes"
    assert row(tables, "Storage now", "Stored after deduplication")[1] == "22 bytes"
    assert row(tables, "Storage now", "Saved by deduplication")[1] == "14 bytes"
    assert row(tables, "Storage now", "Archive")[1] == "0 bytes"
    assert row(tables, "Storage now", "Quota used")[1].startswith("22 bytes of ")
    assert row(tables, "File types", "text")[1:] == ["text/plain", "3", "36 bytes"]
    assert tables.tables["Storage by user"][1:] == [["eddie", "3", "36 bytes"]]
    assert tables.tables["Storage by top-level folder"][1:] == [
        ["Not in a folder", "2", "22 bytes"],
        ["/Plans/", "1", "14 bytes"],
    ]
    assert tables.tables["Files by label"][1:] == [["invoice", "1"]]
    assert tables.tables["Files by tag"][1:] == [["work", "3"], ["plans", "1"]]
    today = tables.tables["Activity by day"][-1]
    assert today[1:] == ["3", "36 bytes", "1", "0", "0", "2"]
    assert len(tables.tables["Activity by day"]) == 1 + 30  # the header and the last 30 days
    assert row(tables, "Storage over time", tables.tables["Storage over time"][-1][0])[1] == "36 bytes"
    assert "Monthly budget" in [cells[0] for cells in tables.tables["Estimated monthly cost"]]

    charts = json.loads(
        re.search(r'<script id="analytics-charts" type="application/json">(.*?)</script>', page, re.S)[1]
    )
    assert charts["by-user"]["labels"] == ["eddie"] and charts["by-user"]["series"][0]["data"] == [36]
    assert charts["usage"]["series"][0] == {"label": "Uploads", "data": [0] * 29 + [3]}
    assert charts["tags"]["labels"] == ["work", "plans"]


def test_the_chart_library_and_scripts_come_from_our_own_origin(tenant, known):
    owner, _editor = known
    page = owner.web.get(owner.url).content.decode()
    scripts = re.findall(r"<script\b([^>]*)>", page)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts), scripts
    assert all(re.search(r'src="/static/', attrs) for attrs in scripts if "src=" in attrs), scripts
    assert 'src="/static/vendor/chartjs/chart.umd.min.js"' in page
    assert 'style="' not in page and "<style" not in page


def test_the_date_range_form_switches_to_weeks_and_refuses_a_reversed_range(tenant, known):
    owner, _editor = known
    weekly = Tables(
        owner.web.get(owner.url, {"from": "2026-01-01", "to": "2026-03-01", "interval": "week"}).content.decode()
    )
    rows = weekly.tables["Activity by week"]
    assert rows[0][0] == "Week of" and rows[1][0] == "2025-12-29" and len(rows) == 1 + 9
    reversed_range = owner.web.get(owner.url, {"from": "2026-03-01", "to": "2026-01-01"})
    assert reversed_range.status_code == 200
    assert "The end comes before the start." in reversed_range.content.decode()
    too_long = owner.web.get(owner.url, {"from": "2024-01-01", "to": "2026-01-01"})
    assert too_long.status_code == 200
    assert "The range is at most 366 days." in too_long.content.decode()
    assert len(Tables(too_long.content.decode()).tables["Activity by day"]) == 1 + 30  # the default period


def test_csv_links_for_every_endpoint(tenant, known):
    owner, _editor = known
    page = owner.web.get(owner.url, {"from": "2026-01-01", "to": "2026-01-31", "interval": "week"}).content.decode()
    api = f"/api/v1/tenants/{tenant.slug}/analytics/"
    links = set(re.findall(r'href="([^"]*export=csv[^"]*)"', page))
    expected = {f"{api}{name}/?export=csv" for name in ("storage", "file-types", "categories", "cost", "activity")}
    assert expected | {f"{api}usage/?export=csv&amp;from=2026-01-01&amp;to=2026-01-31&amp;interval=week"} == links
    for link in links:
        response = owner.web.get(link.replace("&amp;", "&"))
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv"), link


def test_members_get_the_403_page_and_other_teams_the_404_page(tenant, known):
    _owner, editor = known
    assert editor.web.get(editor.url).status_code == 403
    stranger = Member(MembershipFactory(role=Role.OWNER).tenant)
    assert stranger.web.get(editor.url).status_code == 404


def test_the_page_costs_the_same_queries_however_much_the_team_holds(tenant, known, django_assert_num_queries):
    owner, editor = known
    owner.web.get(owner.url)  # fills the alert banner's cache
    with django_assert_num_queries(QUERIES):
        assert owner.web.get(owner.url).status_code == 200
    more = editor.api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "More"}, format="json").json()
    folder = Folder.objects.get(pk=more["id"])
    for n in range(6):
        upload(editor.api, tenant, f"extra-{n}.txt", f"extra {n}\n".encode(), folder=folder.pk, tags=f"t{n}")
    roll_up(tenant)
    with django_assert_num_queries(QUERIES):
        assert owner.web.get(owner.url).status_code == 200
