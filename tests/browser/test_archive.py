"""An archived file in a browser: its tile says so and still shows its thumbnail, Download
explains instead of failing, Retrieve brings it back and the download works again."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from accounts.models import Role
from files.models import Blob, BlobTier, File
from files.services.lifecycle import archive_sweep
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files.conftest import upload, wait_until
from tests.files.test_archive import age
from tests.helpers import CORPUS, client_for

PHOTO = CORPUS / "photo_exif" / "Canon_40D.jpg"


def test_an_archived_file_is_marked_explains_its_download_and_comes_back(page, shot):
    membership = MembershipFactory(user=UserFactory(username="greta"), role=Role.OWNER)
    tenant = membership.tenant
    response = upload(client_for(membership.user), tenant, PHOTO.name, PHOTO.read_bytes())
    assert response.status_code == 201, response.content
    file = File.objects.get(pk=response.json()["id"])
    # Processed by the stack's worker (which shares two cores with everything else).
    wait_until(lambda: File.objects.get(pk=file.pk).status == "completed", what="processing", timeout=90)
    age([file.pk], 100)
    assert archive_sweep(tenant=tenant).archived == 1

    log_in(page, "greta")
    page.goto(f"/t/{tenant.slug}/")
    tile = page.get_by_role("listitem").filter(has=page.get_by_role("link", name=PHOTO.name, exact=True))
    expect(tile.get_by_text("Archived", exact=True)).to_be_visible()
    thumbnail = tile.get_by_role("img", name=f"Thumbnail of {PHOTO.name}")
    expect(thumbnail).to_be_visible()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle())
    shot(page, "archived in the grid")

    page.get_by_role("link", name=PHOTO.name, exact=True).click()
    page.get_by_role("link", name="Download").click()
    expect(page.get_by_text(f"“{PHOTO.name}” is archived")).to_be_visible()
    shot(page, "download explained")

    page.get_by_role("button", name="Retrieve", exact=True).click()
    expect(page.get_by_text(f"“{PHOTO.name}” is back from the archive")).to_be_visible()
    assert Blob.objects.get(pk=file.current_version.blob_id).tier == BlobTier.HOT
    expect(page.get_by_text("Archived", exact=True)).to_have_count(0)
    with page.expect_download() as got:
        page.get_by_role("link", name="Download").click()
    assert Path(got.value.path()).read_bytes() == PHOTO.read_bytes()
    shot(page, "retrieved and downloaded")
