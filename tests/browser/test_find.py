"""Finding and getting back: search as you type, the trash, and an upload-only share link."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from accounts.models import Role
from files.models import File
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import CORPUS, client_for


def _owner():
    membership = MembershipFactory(role=Role.OWNER, tenant__name="Find Studio", tenant__slug="find")
    return membership.user, membership.tenant, client_for(membership.user)


def _processed(file_id: str, timeout: float = 90) -> File:
    """The file once the stack's Celery worker has processed it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        file = File.objects.get(pk=file_id)
        if file.status in ("completed", "failed"):
            return file
        time.sleep(0.5)
    raise AssertionError(f"file {file_id} still {file.status} after {timeout} s")


def test_search_a_phrase_from_a_pdf_see_it_highlighted_and_open_it(page, shot):
    user, tenant, api = _owner()
    pdf = upload(api, tenant, "crazyones.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()).json()
    upload(api, tenant, "other.txt", b"nothing to see")
    assert _processed(pdf["id"]).status == "completed"

    log_in(page, user.username)
    page.goto(f"/t/{tenant.slug}/")
    box = page.get_by_role("search").get_by_label("Search")
    box.fill("the crazy ones")
    box.press("Enter")
    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/search/\?.*q=the\+crazy\+ones"))
    result = page.get_by_role("link", name="crazyones.pdf", exact=True)
    expect(result).to_be_visible()
    expect(page.get_by_role("link", name="other.txt")).to_have_count(0)
    expect(page.get_by_role("mark").first).to_have_text(re.compile("crazy", re.I))
    shot(page, "results")

    # On the search page the box searches as you type: no Enter, the results follow.
    live = page.get_by_role("search").get_by_label("Search")
    live.fill("misfits")
    expect(page).to_have_url(re.compile(r"q=misfits"))
    expect(page.get_by_role("mark").first).to_have_text(re.compile("misfits", re.I))
    expect(page.get_by_role("link", name="crazyones.pdf", exact=True)).to_be_visible()
    shot(page, "as-you-type")

    page.get_by_role("link", name="crazyones.pdf", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/t/{tenant.slug}/files/{pdf['id']}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("crazyones.pdf")
    shot(page, "file-page")


def test_trash_a_file_and_restore_it_from_the_trash_page(page, shot):
    user, tenant, api = _owner()
    notes = upload(api, tenant, "notes.txt", b"meeting notes").json()
    scrap = upload(api, tenant, "scrap.txt", b"scrap").json()
    for file in (notes, scrap):
        assert api.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/").status_code == 204

    log_in(page, user.username)
    page.goto(f"/t/{tenant.slug}/")
    page.get_by_role("navigation", name="Team").get_by_role("link", name="Trash").click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.get_by_role("rowheader", name=re.compile("notes.txt"))).to_be_visible()
    shot(page, "trash")

    page.get_by_role("button", name="Restore notes.txt").click()
    expect(page.get_by_role("status").filter(has_text="Restored “notes.txt” to /.")).to_be_visible()
    assert File.objects.get(pk=notes["id"]).deleted_at is None

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete scrap.txt for good").click()
    expect(page.get_by_text("The trash is empty.")).to_be_visible()
    assert not File.objects.filter(pk=scrap["id"]).exists()
    shot(page, "emptied")


DROP_TWO_FILES = """() => {
  const files = new DataTransfer();
  files.items.add(new File(["first report\\n"], "first.txt", {type: "text/plain"}));
  files.items.add(new File(["second report\\n"], "second.txt", {type: "text/plain"}));
  return files;
}"""


def test_an_upload_only_link_takes_dropped_files_from_a_logged_out_visitor(new_page, shot):
    _user, tenant, api = _owner()
    inbox = api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Inbox"}, format="json").json()
    link = api.post(
        f"/api/v1/tenants/{tenant.slug}/shares/", {"folder": inbox["id"], "allow_upload": True}, format="json"
    ).json()

    visitor = new_page()  # a fresh context: no session, no cookies
    visitor.goto(f"/s/{link['token']}")
    expect(visitor.get_by_role("heading", name="Send files")).to_be_visible()
    files = visitor.evaluate_handle(DROP_TWO_FILES)
    visitor.get_by_role("group", name="Drop files here").dispatch_event("drop", {"dataTransfer": files})

    for name in ("first.txt", "second.txt"):
        expect(visitor.get_by_role("progressbar", name=name)).to_be_visible()
    expect(visitor.get_by_role("listitem").filter(has_text="Sent")).to_have_count(2)
    expect(visitor.get_by_text("2 files received.")).to_be_visible()
    shot(visitor, "sent")
    names = sorted(File.objects.filter(folder_id=inbox["id"]).values_list("name", flat=True))
    assert names == ["first.txt", "second.txt"]


def test_search_trash_shares_and_a_share_page_fit_a_phone(new_page, shot):
    user, tenant, api = _owner()
    kept = upload(api, tenant, "a-rather-long-file-name-for-a-small-screen.txt", b"walrus text").json()
    gone = upload(api, tenant, "another-rather-long-file-name-in-the-trash.txt", b"gone").json()
    api.delete(f"/api/v1/tenants/{tenant.slug}/files/{gone['id']}/")
    token = api.post(
        f"/api/v1/tenants/{tenant.slug}/shares/", {"file": kept["id"], "password": "pw"}, format="json"
    ).json()["token"]

    phone = new_page(width=390, height=844)
    log_in(phone, user.username)
    for path in (f"/t/{tenant.slug}/search/?q=walrus", f"/t/{tenant.slug}/trash/", f"/t/{tenant.slug}/shares/"):
        phone.goto(path)
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390, path
        shot(phone, path.strip("/").replace("/", "-"))
    phone.goto(f"/s/{token}")
    phone.get_by_label("Password").fill("pw")
    phone.get_by_role("button", name="Unlock").click()
    expect(phone.get_by_role("link", name="Download")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    shot(phone, "share-page")
