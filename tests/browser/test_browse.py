"""The browse page in chromium: views and sorting, infinite scroll, live status, bulk move
and ZIP download. Things are found by role and accessible name only."""

from __future__ import annotations

import io
import re
import time
import zipfile

from playwright.sync_api import expect

from accounts.models import Role
from files.models import File, FileStatus, Folder
from files.services.files import file_reprocess
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.files.conftest import upload
from tests.files.test_portal_browse import make_files
from tests.helpers import CORPUS, client_for


def _owner(slug: str = "studio"):
    user = UserFactory(username="olga")
    user.set_password(PASSWORD)
    user.save()
    return MembershipFactory(user=user, tenant=TenantFactory(name="Studio", slug=slug), role=Role.OWNER)


def _checkboxes(page, prefix: str):
    return page.get_by_role("checkbox", name=re.compile(rf"^Select {prefix}"))


def test_grid_list_sort_and_infinite_scroll(page, shot):
    membership = _owner()
    make_files(membership.tenant, membership.user, 60)
    log_in(page, "olga")
    page.goto("/t/studio/")

    expect(_checkboxes(page, "file-")).to_have_count(48)
    expect(page.get_by_role("link", name="file-000.jpg", exact=True)).to_be_visible()
    shot(page, "grid")
    # Scrolling to the end loads the next page in place.
    page.get_by_role("link", name="file-047.jpg", exact=True).scroll_into_view_if_needed()
    page.mouse.wheel(0, 20_000)
    expect(_checkboxes(page, "file-")).to_have_count(60)
    expect(page.get_by_role("link", name="file-059.jpg", exact=True)).to_be_visible()

    page.get_by_role("link", name="List", exact=True).click()
    expect(page.get_by_role("columnheader", name="Owner")).to_be_visible()
    page.get_by_label("Sort by").select_option(label="Size")
    expect(page).to_have_url(re.compile(r"sort=size"))
    page.get_by_label("Order").select_option(label="Descending")
    expect(page).to_have_url(re.compile(r"order=desc"))
    largest = File.objects.filter(tenant=membership.tenant).order_by("-size", "-id").first()
    first_row = page.get_by_role("row").nth(1)
    expect(first_row.get_by_role("link")).to_have_text(largest.name)
    shot(page, "list sorted by size")
    # The list view is remembered, and fits a phone without scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/t/studio/")
    expect(page.get_by_role("columnheader", name="Status")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "list on a phone")


def test_a_pending_file_becomes_completed_with_its_thumbnail_without_reload(page, shot):
    membership = _owner()
    api = client_for(membership.user)
    photo = (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()
    file_id = upload(api, membership.tenant, "court.jpg", photo).json()["id"]
    _wait(lambda: File.objects.get(pk=file_id).status == FileStatus.COMPLETED, what="first processing")
    # Shown as waiting for processing, then processed again by the stack's worker.
    File.objects.filter(pk=file_id).update(status=FileStatus.PENDING)
    log_in(page, "olga")
    page.goto("/t/studio/")
    link = page.get_by_role("link", name="court.jpg", exact=True)
    expect(page.get_by_text("pending", exact=True)).to_be_visible()
    expect(link.get_by_role("img")).to_have_count(0)
    page.evaluate("window.stillTheSamePage = true")
    shot(page, "pending")

    file_reprocess(membership=membership, file_id=file_id)

    expect(link.get_by_role("img")).to_have_count(1, timeout=30_000)
    expect(page.get_by_text("pending", exact=True)).to_have_count(0)
    assert page.evaluate("window.stillTheSamePage") is True
    shot(page, "completed")


def test_shift_click_selects_a_range_and_moves_it(page, shot):
    membership = _owner()
    make_files(membership.tenant, membership.user, 6)
    log_in(page, "olga")
    page.goto("/t/studio/")
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("Target")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page.get_by_role("heading", name="Target")).to_be_attached()
    target = Folder.objects.get(tenant=membership.tenant, name="Target")
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="All files").click()

    page.get_by_role("checkbox", name="Select file-001.jpg").click()
    page.get_by_role("checkbox", name="Select file-004.jpg").click(modifiers=["Shift"])
    expect(page.get_by_text("4 selected")).to_be_visible()
    page.get_by_role("button", name="Move files").click()
    page.get_by_label("Move to").select_option(label="/Target/")
    shot(page, "move dialog")
    page.get_by_role("button", name="Move", exact=True).click()

    expect(page.get_by_text("4 files moved.")).to_be_visible()
    moved = File.objects.filter(folder=target).values_list("name", flat=True)
    assert sorted(moved) == [f"file-00{i}.jpg" for i in range(1, 5)]
    expect(_checkboxes(page, "file-")).to_have_count(2)

    # Select all on the page, then everything in the folder, and tag it.
    page.get_by_role("checkbox", name="Select all", exact=True).check()
    page.get_by_role("button", name="Select all 2 in this folder").click()
    expect(page.get_by_text("All files in this folder selected")).to_be_visible()
    page.get_by_role("button", name="Tag files").click()
    page.get_by_label("Tags").fill("keep")
    page.get_by_role("button", name="Add tags").click()
    expect(page.get_by_text("2 files tagged.")).to_be_visible()
    assert File.objects.filter(tenant=membership.tenant, tags__contains=["keep"]).count() == 2


def test_download_the_chosen_files_as_a_zip(page, tmp_path):
    membership = _owner()
    api = client_for(membership.user)
    upload(api, membership.tenant, "one.txt", b"the first file")
    upload(api, membership.tenant, "two.txt", b"the second file")
    upload(api, membership.tenant, "three.txt", b"left out")
    log_in(page, "olga")
    page.goto("/t/studio/")

    page.get_by_role("checkbox", name="Select one.txt").click()
    page.get_by_role("checkbox", name="Select two.txt").click()
    with page.expect_download() as info:
        page.get_by_role("button", name="Download ZIP").click()
    path = tmp_path / "files.zip"
    info.value.save_as(path)

    archive = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    assert sorted(archive.namelist()) == ["one.txt", "two.txt"]
    assert archive.read("one.txt") == b"the first file"


def _wait(condition, *, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)
