"""Team settings → Analytics in a browser: the charts are drawn by Chart.js served from our
own origin under the strict CSP (no violation, no console error), beside their tables; the
page fits a phone's width and dark mode."""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import expect

from accounts.models import Role
from analytics.services import rollups, snapshots
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files.conftest import upload
from tests.helpers import client_for

CHARTS = [
    "Chart of storage by user (the table has its numbers)",
    "Chart of size by file type (the table has its numbers)",
    "Chart of activity over time (the table below has its numbers)",
    "Chart of files by tag (the table has its numbers)",
    "Chart of estimated cost by tier (the table has its numbers)",
]
# Whether anything was painted on the canvas: some pixel is not transparent.
PAINTED = "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data.some((v, i) => i % 4 === 3 && v > 0)"


def test_the_dashboard_draws_its_charts_from_our_origin_beside_the_tables(new_page, stack, shot):
    membership = MembershipFactory(user=UserFactory(username="ada"), role=Role.OWNER)
    tenant, api = membership.tenant, client_for(membership.user)
    for name, data in (("notes.txt", b"meeting notes\n"), ("copy.txt", b"meeting notes\n"), ("a.txt", b"a\n")):
        assert upload(api, tenant, name, data, content_type="text/plain", tags="work").status_code == 201
    rollups.usage_roll_up()
    snapshots.storage_snapshot(tenant=tenant)

    page = new_page()
    problems, scripts = [], []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: scripts.append(request.url) if request.resource_type == "script" else None)
    log_in(page, "ada")
    page.goto(f"/t/{tenant.slug}/settings/")
    page.get_by_role("link", name="Analytics").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Analytics")

    for name in CHARTS:
        chart = page.get_by_role("img", name=name)
        expect(chart).to_be_visible()
        page.wait_for_function(PAINTED, arg=chart.element_handle())
    expect(page.get_by_role("table", name="Storage by user").get_by_role("cell", name="30 bytes")).to_be_visible()
    expect(page.get_by_role("table", name="Files by tag").get_by_role("rowheader", name="work")).to_be_visible()
    shot(page, "dashboard")

    ours = urlsplit(stack.url).netloc
    assert any(url.endswith("/static/vendor/chartjs/chart.umd.min.js") for url in scripts), scripts
    assert all(urlsplit(url).netloc == ours for url in scripts), scripts
    assert problems == []

    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.get_by_role("img", name=CHARTS[0])).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "phone-dark")
    assert problems == []
