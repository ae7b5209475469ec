"""Uploading from the browse page: dropped files and folders, progress, errors, and a big
file's resumable multipart upload straight to S3 that survives a page reload."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from files import storage
from files.models import File, Folder, UploadSession
from files.storage import multipart as s3_multipart
from mediaportal.embedded import bucket_cors_set
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory
from tests.helpers import CORPUS

MIB = 1024**2
DROPPED = [
    CORPUS / "photo_exif" / "Canon_40D.jpg",
    CORPUS / "document_pdf" / "crazyones.pdf",
    CORPUS / "text" / "crazyones.txt",
]


def _team(*, max_upload_bytes: int = 10 * MIB):
    user = UserFactory(username="uma")
    user.set_password(PASSWORD)
    user.save()
    tenant = TenantFactory(name="Upload Studio", slug="studio", max_upload_bytes=max_upload_bytes)
    MembershipFactory(user=user, tenant=tenant, role=Role.OWNER)
    return tenant


def _drop(page, files: list[tuple[str, bytes]]) -> None:
    """Dispatch a real drop event on the page's main landmark, with a DataTransfer built in
    the page (Chromium gives such items no file-system entries: the page falls back to its files)."""
    payload = [{"name": name, "data": base64.b64encode(data).decode()} for name, data in files]
    transfer = page.evaluate_handle(
        """files => {
            const transfer = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.data), c => c.charCodeAt(0));
                transfer.items.add(new File([bytes], f.name));
            }
            return transfer;
        }""",
        payload,
    )
    main = page.get_by_role("main")
    main.dispatch_event("dragenter", {"dataTransfer": transfer})
    main.dispatch_event("dragover", {"dataTransfer": transfer})
    main.dispatch_event("drop", {"dataTransfer": transfer})


def _wait_until(check, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def _stored_bytes(file: File) -> bytes:
    return b"".join(storage.object_chunks(file.current_version.blob.storage_key))


def test_dropped_files_show_progress_and_appear_in_the_listing(page, shot):
    tenant = _team()
    log_in(page, "uma")
    page.goto(f"/t/{tenant.slug}/")
    page.evaluate("window.changes = 0; document.body.addEventListener('files-changed', () => window.changes++)")
    _drop(page, [(path.name, path.read_bytes()) for path in DROPPED])
    for path in DROPPED:
        expect(page.get_by_role("progressbar", name=path.name)).to_be_visible()
    shot(page, "dropped")
    expect(page.get_by_role("progressbar", name="All uploads")).to_have_attribute("aria-valuenow", "100")
    page.wait_for_function("() => window.changes === 3")
    for path in DROPPED:
        expect(page.get_by_role("link", name=path.name, exact=True)).to_be_visible()
    shot(page, "listed")
    stored = {f.name: f for f in File.objects.filter(tenant=tenant)}
    assert set(stored) == {path.name for path in DROPPED}
    assert all(_stored_bytes(stored[path.name]) == path.read_bytes() for path in DROPPED)


def test_a_dropped_folder_keeps_its_structure(page, shot, tmp_path):
    tenant = _team()
    trip = tmp_path / "Trip"
    (trip / "Day 1").mkdir(parents=True)
    (trip / "notes.txt").write_text("packing list")
    (trip / "Day 1" / "photo.jpg").write_bytes(DROPPED[0].read_bytes())
    log_in(page, "uma")
    page.goto(f"/t/{tenant.slug}/")
    main = page.get_by_role("main").bounding_box()
    x, y = main["x"] + main["width"] / 2, main["y"] + main["height"] / 2
    # What the operating system hands Chromium when a folder is dragged in from outside: real
    # file-system entries (webkitGetAsEntry), unlike a DataTransfer built by script.
    cdp = page.context.new_cdp_session(page)
    data = {"items": [], "files": [str(trip)], "dragOperationsMask": 1}
    for kind in ("dragEnter", "dragOver", "drop"):
        cdp.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    expect(page.get_by_role("progressbar", name="photo.jpg")).to_be_visible()
    expect(page.get_by_role("progressbar", name="All uploads")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_text("2 of 2 uploaded")).to_be_visible()
    shot(page, "folder dropped")
    paths = {f.name: (f.folder.path if f.folder else "/") for f in File.objects.filter(tenant=tenant)}
    assert paths == {"notes.txt": "/Trip/", "photo.jpg": "/Trip/Day 1/"}
    assert Folder.objects.filter(tenant=tenant).count() == 2


def test_a_file_over_the_limit_shows_why_next_to_its_name_on_a_phone(new_page, shot):
    tenant = _team(max_upload_bytes=1 * MIB)
    page = new_page(width=390, height=844)
    log_in(page, "uma")
    page.goto(f"/t/{tenant.slug}/")
    page.get_by_label("Upload", exact=True).set_input_files(
        [{"name": "poster.txt", "mimeType": "text/plain", "buffer": b"x" * (2 * MIB)}]
    )
    row = page.get_by_role("listitem").filter(has=page.get_by_role("progressbar", name="poster.txt"))
    expect(row).to_contain_text(f"Files are limited to {MIB} bytes in this tenant.")
    shot(page, "too large")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert not File.objects.filter(tenant=tenant).exists() and not UploadSession.objects.exists()


@pytest.fixture
def portal_only_cors(stack):
    """The primary bucket answers only the portal's origin, as a real deployment's would: the
    parts' PUTs below are real cross-origin requests that S3 lets through."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(stack.url))
    client, bucket = storage.s3_client(), storage.bucket_storage().bucket_name
    bucket_cors_set(client, bucket, [origin])
    yield origin
    bucket_cors_set(client, bucket, ["*"])


def test_a_big_file_resumes_after_a_reload_sending_only_the_missing_parts(page, shot, tmp_path, portal_only_cors):
    tenant = _team(max_upload_bytes=64 * MIB)
    big = tmp_path / "survey.txt"
    line = b"a survey of the coast, one line of many; " * 2 + b"\n"
    big.write_bytes((line * (30 * 1000**2 // len(line) + 1))[: 30 * 1000**2])
    data = big.read_bytes()
    parts_sent: list[int] = []
    page.on(
        "request",
        lambda request: (
            request.method == "PUT"
            and "partNumber=" in request.url
            and parts_sent.append(int(re.search(r"partNumber=(\d+)", request.url).group(1)))
        ),
    )
    log_in(page, "uma")
    page.goto(f"/t/{tenant.slug}/")
    # Slow the page's uploads down (6 MiB/s) so that the reload comes while parts are on their way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    throttle = {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 6 * MIB}
    cdp.send("Network.emulateNetworkConditions", throttle)
    page.get_by_label("Upload", exact=True).set_input_files(str(big))
    bar = page.get_by_role("progressbar", name="survey.txt")
    page.wait_for_function("bar => bar.value >= 40", arg=bar.element_handle(), timeout=30_000)
    session = UploadSession.objects.get(tenant=tenant)
    _wait_until(lambda: s3_multipart.parts_held(key=session.staging_key, upload_id=session.multipart_id))
    shot(page, "before reload")
    page.reload()
    time.sleep(1)  # a part whose bytes were all sent may still be being stored
    held = s3_multipart.parts_held(key=session.staging_key, upload_id=session.multipart_id)
    assert session.part_count == 6 and 1 <= len(held) < 6, held
    before_reload = list(parts_sent)

    cdp.send("Network.emulateNetworkConditions", {**throttle, "uploadThroughput": -1})
    page.get_by_label("Upload", exact=True).set_input_files(str(big))
    expect(page.get_by_role("progressbar", name="All uploads")).to_have_attribute("aria-valuenow", "100")
    expect(page.get_by_text("1 of 1 uploaded")).to_be_visible()
    shot(page, "resumed")
    resumed = parts_sent[len(before_reload) :]
    assert sorted(resumed) == sorted(set(range(1, 7)) - set(held)), (held, before_reload, resumed)
    file = File.objects.get(tenant=tenant)
    assert file.name == "survey.txt" and file.sha256 == hashlib.sha256(data).hexdigest()
    assert _stored_bytes(file) == data
    assert not page.evaluate("Object.keys(localStorage).filter(k => k.startsWith('mediaportal.upload.'))")
