"""Team settings → Exports in a browser: start an export, watch it become ready (made by the
stack's Celery worker), download the ZIP and find the files at their paths with the manifest."""

from __future__ import annotations

import json
import re
import zipfile

from playwright.sync_api import expect

from accounts.models import Role
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files.conftest import sha, upload
from tests.helpers import client_for

MADE = 90_000  # ms: the stack's worker shares two cores with everything else


def test_an_owner_exports_the_team_and_downloads_the_zip(page, shot):
    membership = MembershipFactory(user=UserFactory(username="erin"), role=Role.OWNER)
    tenant, api = membership.tenant, client_for(membership.user)
    plans = api.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Plans"}, format="json").json()
    assert upload(api, tenant, "notes.txt", b"meeting notes\n", folder=plans["id"]).status_code == 201
    assert upload(api, tenant, "readme.txt", b"read me\n").status_code == 201

    log_in(page, "erin")
    page.goto(f"/t/{tenant.slug}/settings/")
    page.get_by_role("link", name="Exports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Exports")
    expect(page.get_by_text("No exports yet.")).to_be_visible()
    page.get_by_role("button", name="Start export").click()
    expect(page.get_by_text("Export started.")).to_be_visible()
    shot(page, "started")
    # The table polls while the export is made, and shows the link once it is ready.
    download_link = page.get_by_role("link", name=re.compile(r"^Download"))
    expect(download_link).to_be_visible(timeout=MADE)
    expect(page.get_by_role("cell", name="ready")).to_be_visible()
    shot(page, "ready")

    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert re.fullmatch(rf"{tenant.slug}-export-\d{{4}}-\d\d-\d\d\.zip", download.suggested_filename)
    with zipfile.ZipFile(download.path()) as archive:
        assert sorted(archive.namelist()) == ["Plans/", "Plans/notes.txt", "manifest.json", "readme.txt"]
        assert archive.read("Plans/notes.txt") == b"meeting notes\n"
        manifest = json.loads(archive.read("manifest.json"))
    assert {(f["path"], f["sha256"]) for f in manifest["files"]} == {
        ("Plans/notes.txt", sha(b"meeting notes\n")),
        ("readme.txt", sha(b"read me\n")),
    }
