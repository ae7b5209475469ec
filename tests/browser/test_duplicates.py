"""Similar pictures in a browser: the file page's Similar panel, then the duplicates page
keeping the best copy and filing the other under it as an earlier version."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Role
from files.models import File
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory
from tests.files import similar_set
from tests.files.conftest import upload, wait_until
from tests.helpers import client_for

PROCESSED = 90_000  # ms: the stack's worker shares two cores with everything else


def test_similar_panel_and_resolving_duplicates_as_versions(page, shot):
    membership = MembershipFactory(user=UserFactory(username="dora"), role=Role.OWNER)
    api = client_for(membership.user)
    picture = similar_set.original("photo_exif/court-exif.jpg")
    ids = {}
    for name, data in [
        ("court.jpg", similar_set._save(picture, "JPEG", quality=70)),
        ("court.png", similar_set._save(picture, "PNG")),
    ]:
        response = upload(api, membership.tenant, name, data)
        assert response.status_code == 201, response.content
        ids[name] = response.json()["id"]
    wait_until(
        lambda: File.objects.filter(pk__in=ids.values(), status="completed").count() == 2, what="processed", timeout=90
    )
    log_in(page, "dora")

    page.goto(f"/t/{membership.tenant.slug}/files/{ids['court.jpg']}/")
    panel = page.get_by_role("region", name="Similar")
    expect(panel.get_by_role("link", name=re.compile("court.png"))).to_be_visible(timeout=PROCESSED)
    expect(panel.get_by_text("re-encoded · distance 0")).to_be_visible()
    expect(panel.get_by_text("best copy")).to_be_visible()
    shot(page, "similar-panel")

    page.get_by_role("navigation").get_by_role("link", name="Duplicates").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Duplicates")
    expect(page.get_by_role("radio", name="court.png")).to_be_checked()
    page.get_by_role("radio", name="Keep as earlier versions of the kept copy").check()
    shot(page, "duplicates")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Kept “court.png”; 1 other copy kept as earlier versions of it.")).to_be_visible()
    expect(page.get_by_text("No duplicates found among the files you can see.")).to_be_visible()
    assert File.objects.get(pk=ids["court.png"]).versions.count() == 3
    assert File.objects.get(pk=ids["court.jpg"]).deleted_at is not None
