"""Issue 14's acceptance path, in one browser session as a new team would walk it.

register → a folder → three corpus files dropped with progress → thumbnails without a reload
→ a photo's camera and dimensions → a phrase from a PDF found and opened → a password- and
limit-protected link → opened, unlocked and downloaded (identical bytes) by a logged-out
browser → the limit enforced → an expired link's 410 page → a 30 MB file through the
resumable path, interrupted by a reload, completed. Each step leaves a screenshot.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from datetime import timedelta

import requests
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Tenant
from files.models import File
from sharing.models import ShareLink
from sharing.selectors import token_hash
from tests.helpers import CORPUS

PHOTO = CORPUS / "photo_exif" / "court-exif.jpg"  # NIKON D2H, 500 × 375
PDF = CORPUS / "document_pdf" / "google-doc-document.pdf"  # "Beautiful is better than ugly"
NOTE = CORPUS / "text" / "crazyones.txt"
MIB = 1024 * 1024

DROP = """async ([files]) => {
  const transfer = new DataTransfer();
  for (const f of files) {
    const bytes = Uint8Array.from(atob(f.data), (c) => c.charCodeAt(0));
    transfer.items.add(new File([bytes], f.name, { type: f.type }));
  }
  const target = document.querySelector("main");
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }
}"""


def _payload(path, content_type):
    return {"name": path.name, "type": content_type, "data": base64.b64encode(path.read_bytes()).decode()}


def _register(page, shot):
    page.goto("/register/")
    page.get_by_label("Username").fill("noor")
    page.get_by_label("Email").fill("noor@example.org")
    page.get_by_label("Password").fill("a long and quiet river")
    page.get_by_label("Team name").fill("Noor Studio")
    shot(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("navigation", name="Team").get_by_role("link", name="Files")).to_be_visible()
    shot(page, "new team")


def _folder_and_drop(page, shot):
    page.get_by_role("button", name="New folder").click()
    page.get_by_label("Folder name").fill("Launch")
    page.get_by_role("button", name="Create").click()
    # A new folder opens at once; it is also a link in its parent, named by its name.
    expect(page.get_by_role("heading", name="Launch")).to_have_count(1)
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role("link", name="All files").click()
    page.get_by_role("link", name="Launch", exact=True).click()
    expect(page.get_by_role("navigation", name="Breadcrumbs")).to_contain_text("Launch")
    files = [_payload(PHOTO, "image/jpeg"), _payload(PDF, "application/pdf"), _payload(NOTE, "text/plain")]
    page.evaluate(DROP, [files])
    for path in (PHOTO, PDF, NOTE):
        expect(page.get_by_role("progressbar", name=path.name)).to_be_visible()
    expect(page.get_by_role("progressbar", name="All uploads")).to_be_visible()
    shot(page, "dropped with progress")
    photo_link = page.get_by_role("link", name=PHOTO.name, exact=True)
    # No reload: the page updates itself.
    expect(photo_link.get_by_role("img", name=f"Thumbnail of {PHOTO.name}")).to_be_visible(timeout=60_000)
    pdf_link = page.get_by_role("link", name=PDF.name, exact=True)
    expect(pdf_link.get_by_role("img", name=f"Thumbnail of {PDF.name}")).to_be_visible(timeout=60_000)
    shot(page, "thumbnails")


def _photo_page(page, shot):
    page.get_by_role("link", name=PHOTO.name, exact=True).click()
    expect(page.get_by_role("heading", level=1, name=PHOTO.name)).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("Camera")).get_by_role("cell")).to_contain_text("NIKON D2H")
    expect(page.get_by_role("row", name=re.compile("Dimensions")).get_by_role("cell")).to_contain_text("500 × 375")
    expect(page.get_by_role("heading", name="Versions")).to_be_visible()
    shot(page, "photo page")


def _search_pdf(page, shot):
    page.get_by_role("search").get_by_label("Search").fill("Beautiful is better than ugly")
    page.get_by_role("search").get_by_label("Search").press("Enter")
    result = page.get_by_role("link", name=PDF.name, exact=True)
    expect(result).to_be_visible()
    expect(page.get_by_role("mark").first).to_have_text(re.compile("beautiful", re.I))
    shot(page, "search")
    result.click()
    expect(page.get_by_role("heading", level=1, name=PDF.name)).to_be_visible()
    shot(page, "pdf page")


def _share_photo(page, shot) -> str:
    page.get_by_role("link", name="Launch", exact=True).first.click()
    page.get_by_role("link", name=PHOTO.name, exact=True).click()
    page.get_by_role("button", name="Share").click()
    expires = (timezone.localdate() + timedelta(days=3)).isoformat()
    page.get_by_label("Expires").fill(expires)
    page.get_by_label("Password").fill("open sesame")
    page.get_by_label("Download limit").fill("1")
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_label("Link", exact=True)
    expect(link).to_have_value(re.compile(r"^http://.+/s/"))
    shot(page, "share link")
    return link.input_value()


def _open_as_stranger(new_page, shot, url: str) -> None:
    stranger = new_page()
    stranger.goto(url)
    stranger.get_by_label("Password").fill("open sesame")
    stranger.get_by_role("button", name="Unlock").click()
    with stranger.expect_download() as download:
        stranger.get_by_role("link", name="Download").or_(stranger.get_by_role("button", name="Download")).first.click()
    assert open(download.value.path(), "rb").read() == PHOTO.read_bytes()
    shot(stranger, "downloaded by a stranger")
    answer = stranger.goto(url)
    assert answer.status == 410
    expect(stranger.get_by_role("heading", name="This link has expired")).to_be_visible()
    shot(stranger, "limit reached")


def _expired_link(new_page, shot, page) -> None:
    second = _share_without_limits(page)
    ShareLink.objects.filter(pk=second["id"]).update(expires_at=timezone.now() - timedelta(minutes=1))
    stranger = new_page()
    answer = stranger.goto(second["url"])
    assert answer.status == 410
    expect(stranger.get_by_role("heading", name="This link has expired")).to_be_visible()
    shot(stranger, "expired")


def _share_without_limits(page) -> dict:
    page.keyboard.press("Escape")  # the first link's dialog is still open
    page.get_by_role("button", name="Share").click()
    page.get_by_role("button", name="Create link").click()
    url = page.get_by_label("Link", exact=True).input_value()
    page.keyboard.press("Escape")
    token = url.rstrip("/").rsplit("/", 1)[1]
    return {"id": ShareLink.objects.get(token_hash=token_hash(token)).pk, "url": url}


def _resumable(page, shot, tmp_path) -> None:
    Tenant.objects.filter(slug=page.url.split("/t/")[1].split("/")[0]).update(max_upload_bytes=64 * MIB)
    page.get_by_role("navigation", name="Team").get_by_role("link", name="Files").click()
    page.get_by_role("link", name="Launch", exact=True).click()
    big = tmp_path / "survey-30mb.txt"
    hexed = os.urandom(15 * MIB).hex()  # text (an accepted type) that no other upload shares
    data = "\n".join(hexed[i : i + 79] for i in range(0, len(hexed), 79)).encode()[: 30 * MIB]
    big.write_bytes(data)
    # Slow the page's uploads down so that the reload comes while parts are on their way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 6 * MIB}
    cdp.send("Network.emulateNetworkConditions", throttle)
    page.get_by_label("Upload", exact=True).set_input_files(str(big))
    bar = page.get_by_role("progressbar", name=big.name)
    page.wait_for_function("bar => bar.value >= 40", arg=bar.element_handle(), timeout=60_000)
    shot(page, "resumable interrupted")
    page.reload()
    cdp.send("Network.emulateNetworkConditions", {**throttle, "uploadThroughput": -1})
    page.get_by_label("Upload", exact=True).set_input_files(str(big))
    expect(page.get_by_role("link", name=big.name, exact=True)).to_be_visible(timeout=120_000)
    shot(page, "resumable completed")
    stored = File.objects.get(name=big.name)
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()


def test_a_new_team_works_through_the_portal(page, new_page, shot, stack, tmp_path):
    assert requests.get(f"{stack.url}/healthz", timeout=5).status_code == 200
    _register(page, shot)
    _folder_and_drop(page, shot)
    _photo_page(page, shot)
    _search_pdf(page, shot)
    url = _share_photo(page, shot)
    _open_as_stranger(new_page, shot, url)
    _expired_link(new_page, shot, page)
    _resumable(page, shot, tmp_path)
