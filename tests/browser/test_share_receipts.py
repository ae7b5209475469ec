"""Share receipts in a browser: a link made with a first-open notification, opened by a
logged-out visitor, and its opens counted in the owner's views."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Role
from files.models import File
from sharing.models import ShareLink
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files.conftest import upload, wait_until
from tests.helpers import client_for


def test_an_anonymous_open_shows_up_in_the_owners_receipts(page, new_page, shot):
    membership = MembershipFactory(user=UserFactory(username="greta"), role=Role.OWNER)
    tenant = membership.tenant
    response = upload(client_for(membership.user), tenant, "brief.txt", b"the brief, final")
    assert response.status_code == 201, response.content
    file = File.objects.get(pk=response.json()["id"])
    # A file page shown while the file is processed reloads itself when that is done, and that
    # reload could race the click on Share: the stack's worker finishes first.
    wait_until(lambda: File.objects.get(pk=file.pk).status == "completed", what="processing", timeout=90)

    log_in(page, "greta")
    page.goto(f"/t/{tenant.slug}/files/{file.pk}/")
    page.get_by_role("button", name="Share", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Tell me when it is first opened").check()
    dialog.get_by_role("button", name="Create link").click()
    link_field = dialog.get_by_label("Link", exact=True)
    expect(link_field).to_have_value(re.compile(r"^http://.+/s/.+"))
    url = link_field.input_value()
    dialog.get_by_role("button", name="Close").click()
    links = page.get_by_role("region", name="Share links")
    expect(links.get_by_role("link", name=re.compile(r"^Receipts"))).to_be_visible()
    shot(page, "link-created")
    assert ShareLink.objects.get(file=file).notify_on_first_open

    visitor = new_page()
    visitor.goto(url)
    expect(visitor.get_by_role("link", name="Download", exact=True)).to_be_visible()
    shot(visitor, "visitor")

    page.goto(f"/t/{tenant.slug}/shares/")
    row = page.get_by_role("row", name=re.compile(r"^brief\.txt"))
    expect(row.get_by_role("cell", name="1", exact=True).first).to_be_visible()
    row.get_by_role("link", name=re.compile(r"^Receipts")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Receipts of the link to “brief.txt”")
    expect(page.get_by_role("row", name="Opens 1")).to_be_visible()
    networks = page.get_by_role("region", name="Networks")
    expect(networks.get_by_role("rowheader", name="127.0.0.0/24")).to_be_visible()
    shot(page, "receipts")
    assert ShareLink.objects.get(file=file).first_opened_at is not None
