"""The file page in a browser: a processed photo's facts, editing, versions, a share link
used by a stranger until it runs out, and a PDF's viewer."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from accounts.models import Role
from files.models import File
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files.conftest import sha, upload
from tests.helpers import CORPUS, client_for

PHOTO = CORPUS / "photo_exif" / "court-exif.jpg"
SECOND = CORPUS / "photo_exif" / "Canon_40D.jpg"
PDF = CORPUS / "document_pdf" / "crazyones.pdf"
PROCESSED = 90_000  # ms: the stack's worker shares two cores with everything else


def _owner_with(*paths: Path):
    membership = MembershipFactory(user=UserFactory(username="frida"), role=Role.OWNER)
    api = client_for(membership.user)
    files = []
    for path in paths:
        response = upload(api, membership.tenant, path.name, path.read_bytes())
        assert response.status_code == 201, response.content
        files.append(File.objects.get(pk=response.json()["id"]))
    return membership.tenant, files


def _csp_errors(page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_photo_page_edit_versions_and_a_limited_share_link(page, new_page, shot):
    tenant, (photo,) = _owner_with(PHOTO)
    csp = _csp_errors(page)
    log_in(page, "frida")
    page.goto(f"/t/{tenant.slug}/files/{photo.pk}/")
    # Processed by the stack's worker; the page polls and reloads when it is done.
    expect(page.get_by_role("row", name=re.compile(r"^Dimensions 500 × 375$"))).to_be_visible(timeout=PROCESSED)
    expect(page.get_by_role("row", name=re.compile(r"^Camera NIKON"))).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("court-exif.jpg")
    expect(page.get_by_role("img", name="Preview of court-exif.jpg")).to_be_visible()
    shot(page, "photo")
    _edit(page, photo)
    _versions(page, photo)
    shot(page, "versions")
    url = _share(page)
    shot(page, "share-link")
    _use_link(new_page(), url, shot)
    assert csp == []


def _edit(page, photo) -> None:
    page.get_by_label("Tags", exact=True).fill("tennis, Court")
    page.get_by_label("Description").fill("Centre court, 2003")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_role("row", name="Tags tennis court")).to_be_visible()
    photo.refresh_from_db()
    assert photo.tags == ["tennis", "court"] and photo.description == "Centre court, 2003"


def _versions(page, photo) -> None:
    versions = page.get_by_role("region", name="Versions")
    page.get_by_label("File of the new version").set_input_files(str(SECOND))
    page.get_by_label("Comment").fill("another shot")
    _press_and_settle(page, photo, "Add version", "Version 2 uploaded; it is being processed.")
    expect(versions.get_by_role("cell", name="another shot")).to_be_visible()
    _press_and_settle(page, photo, "Restore version 1", "Version 1 restored as version 3.")
    photo.refresh_from_db()
    assert photo.current_version.number == 3 and photo.sha256 == sha(PHOTO.read_bytes())
    assert photo.status == "completed"
    expect(page.get_by_role("progressbar", name=f"Processing {photo.name}")).to_have_count(0)
    expect(page.get_by_role("row", name=re.compile(r"^Dimensions 500 × 375$"))).to_be_visible()


def _press_and_settle(page, photo, button: str, message: str) -> None:
    """Presses a button that answers with the file page and a message. A page shown while the
    file is processed reloads itself once that is done, and a step taken during that reload
    is lost, so this waits it out: the message shows on the first render only."""
    with page.expect_response(lambda r: r.request.method == "GET" and r.url.endswith(f"/files/{photo.pk}/")) as answer:
        page.get_by_role("button", name=button).click()
    shown = page.get_by_text(message)
    expect(shown).to_be_visible()
    if f'aria-label="Processing {photo.name}"' in answer.value.text():
        expect(shown).to_have_count(0, timeout=PROCESSED)


def _share(page) -> str:
    """Creates a link with a password and a download limit of one; returns its address."""
    page.get_by_role("button", name="Share", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Password").fill("open sesame")
    dialog.get_by_label("Download limit").fill("1")
    expect(dialog.get_by_label("Expires")).to_have_value(re.compile(r"^\d{4}-\d{2}-\d{2}$"))
    dialog.get_by_role("button", name="Create link").click()
    link_field = dialog.get_by_label("Link", exact=True)
    expect(link_field).to_have_value(re.compile(r"^http://.+/s/.+"))
    expect(link_field).to_have_attribute("readonly", "")
    url = link_field.input_value()
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("region", name="Share links").get_by_role("cell", name="0 of 1")).to_be_visible()
    return url


def _use_link(stranger, url: str, shot) -> None:
    """A logged-out browser unlocks the link, downloads the photo, and then finds it used up."""
    stranger.goto(url)
    stranger.get_by_label("Password").fill("open sesame")
    stranger.get_by_role("button", name=re.compile(r"^(Unlock|Open)$")).click()
    download = stranger.get_by_role("link", name="Download", exact=True)
    href = download.get_attribute("href")
    with stranger.expect_download() as got:
        download.click()
    assert Path(got.value.path()).read_bytes() == PHOTO.read_bytes()
    shot(stranger, "unlocked")
    again = stranger.goto(href)
    assert again.status == 410
    expect(stranger.get_by_role("heading", name="This link has expired")).to_be_visible()
    shot(stranger, "expired")


def test_a_pdf_page_shows_its_first_page_and_the_viewer_on_a_phone(new_page, shot):
    tenant, (pdf,) = _owner_with(PDF)
    page = new_page(width=390, height=844)
    csp = _csp_errors(page)
    log_in(page, "frida")
    page.goto(f"/t/{tenant.slug}/files/{pdf.pk}/")
    expect(page.get_by_role("img", name="First page of crazyones.pdf")).to_be_visible(timeout=PROCESSED)
    viewer = page.get_by_role("region", name="PDF viewer")
    expect(viewer).to_be_visible()
    frame = viewer.get_by_title("PDF viewer: crazyones.pdf")
    expect(frame).to_have_attribute("src", re.compile(r"response-content-type=application%2Fpdf"))
    expect(page.get_by_role("row", name="Pages 1")).to_be_visible()
    expect(page.get_by_role("button", name="Share", exact=True)).to_be_visible()  # the panels are in
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "pdf")
    # While a file is processed its state shows and is polled; once done the page reloads.
    File.objects.filter(pk=pdf.pk).update(status="processing")
    page.reload()
    expect(page.get_by_role("progressbar", name="Processing crazyones.pdf")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("processing")
    with page.expect_navigation(timeout=15_000):
        File.objects.filter(pk=pdf.pk).update(status="completed")
    expect(page.get_by_role("progressbar", name="Processing crazyones.pdf")).to_have_count(0)
    assert csp == []
