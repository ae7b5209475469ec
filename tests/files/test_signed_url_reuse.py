"""Signed GET URLs are handed out again for a fifth of their lifetime: still valid, the same for
everyone allowed the object, and never a way around who may see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import botocore.auth
import pytest
import requests
from django.core.files.storage import storages

from accounts.models import Role
from files import presign, storage
from files.services.processing_run import file_process
from tests.files.conftest import CORPUS, sha, upload

pytestmark = pytest.mark.django_db


def later(monkeypatch, seconds: float) -> None:
    """Move the storage's clock and the signer's on by `seconds` from now."""
    now, signed_at = presign.time.monotonic(), datetime.now(UTC).replace(tzinfo=None)
    monkeypatch.setattr(presign.time, "monotonic", lambda: now + seconds)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: signed_at + timedelta(seconds=seconds))


def test_a_reused_url_is_the_same_and_still_works(monkeypatch):
    key = "tests/reuse/object"
    storage.object_put(key=key, body=b"reused", sha256=sha(b"reused"), content_type="text/plain")
    try:
        first = storage.presigned_get(key=key, filename="a.txt", content_type="text/plain")
        later(monkeypatch, 58)
        again = storage.presigned_get(key=key, filename="a.txt", content_type="text/plain")
        assert again == first
        assert parse_qs(urlparse(again).query)["X-Amz-Expires"] == ["300"]
        fetched = requests.get(again, timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"reused"
        # Another name or type is another URL; so is the same one after a fifth of its lifetime.
        assert storage.presigned_get(key=key, filename="b.txt", content_type="text/plain") != first
        assert storage.presigned_get(key=key, filename="a.txt", content_type="text/plain", inline=True) != first
        later(monkeypatch, 60)
        renewed = storage.presigned_get(key=key, filename="a.txt", content_type="text/plain")
        assert renewed != first and requests.get(renewed, timeout=10).content == b"reused"
    finally:
        storage.object_delete(key)


def test_short_lived_urls_are_never_reused(settings):
    settings.S3_PRESIGN_SECONDS = 3  # a fifth of it is less than the second a signature's date rounds off
    primary = storages["primary"]
    url = primary.url("tests/reuse/short")
    assert parse_qs(urlparse(url).query)["X-Amz-Expires"] == ["3"]
    assert primary.signer.signed == {}


def test_the_kept_urls_are_bounded(monkeypatch):
    monkeypatch.setattr(presign, "SIGNED_URLS_KEPT", 10)
    primary = storages["primary"]
    for n in range(25):
        primary.url(f"tests/reuse/{n}")
    assert 0 < len(primary.signer.signed) <= 10


@pytest.fixture
def photo(editor, tenant):
    data = (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes()
    file = upload(editor, tenant, "kodak.jpg", data).json()
    assert file_process(file_id=file["id"]) == "completed"
    return file


def listed_renditions(client, tenant) -> dict[str, dict]:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/files/")
    assert response.status_code == 200, response.content
    return {f["id"]: f["renditions"] for f in response.json()["results"]}


def test_a_revoked_view_gets_no_cached_url(editor, member, tenant, photo):
    viewer = member(Role.VIEWER)
    seen = listed_renditions(viewer, tenant)[photo["id"]]
    assert seen == listed_renditions(editor, tenant)[photo["id"]]  # one URL for everyone allowed
    assert requests.get(seen["thumbnail"], timeout=10).status_code == 200
    thumbnail = f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/renditions/thumbnail/"
    redirected = viewer.get(thumbnail)["Location"]
    assert editor.get(thumbnail)["Location"] == redirected

    patched = editor.patch(f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/", {"visibility": "private"})
    assert patched.status_code == 200, patched.content
    assert photo["id"] not in listed_renditions(viewer, tenant)
    assert viewer.get(thumbnail).status_code == 404
    assert viewer.get(f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/download/").status_code == 404
    assert listed_renditions(editor, tenant)[photo["id"]] == seen  # still theirs to see


def test_a_purged_file_gets_no_cached_url(editor, tenant, photo, after_commit):
    seen = listed_renditions(editor, tenant)[photo["id"]]
    assert requests.get(seen["thumbnail"], timeout=10).status_code == 200
    assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/").status_code == 204
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/trash/{photo['id']}/").status_code == 204
    assert listed_renditions(editor, tenant) == {}
    thumbnail = f"/api/v1/tenants/{tenant.slug}/files/{photo['id']}/renditions/thumbnail/"
    assert editor.get(thumbnail).status_code == 404
    # The URL handed out before is the signature of an object that is no more.
    assert requests.get(seen["thumbnail"], timeout=10).status_code == 404
