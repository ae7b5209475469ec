from __future__ import annotations

import time
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.utils import timezone

from accounts.models import ActivityEvent
from files.models import File
from tests.files.conftest import CORPUS, upload

pytestmark = pytest.mark.django_db


def download(client, tenant, file_id, **params):
    return client.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/download/", params)


def test_download_redirects_to_short_lived_presigned_url_with_utf8_attachment_name(editor, tenant):
    data = (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()
    file = upload(editor, tenant, "Résumé – 2024 “final”.pdf", data).json()
    response = download(editor, tenant, file["id"])
    assert response.status_code == 302
    url = response["Location"]
    query = parse_qs(urlparse(url).query)
    assert int(query["X-Amz-Expires"][0]) <= 300
    fetched = requests.get(url, timeout=10)
    assert fetched.status_code == 200 and fetched.content == data
    disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''R%C3%A9sum%C3%A9%20%E2%80%93%202024%20%E2%80%9Cfinal%E2%80%9D.pdf" in disposition


def test_inline_only_for_safe_types(editor, tenant):
    pdf = upload(editor, tenant, "doc.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()).json()
    svg = upload(editor, tenant, "logo.svg", (CORPUS / "image_formats" / "svgCleanOne.svg").read_bytes()).json()
    heic = upload(editor, tenant, "photo.heic", (CORPUS / "photo_exif" / "IMG_5195.HEIC").read_bytes()).json()
    inline_pdf = requests.get(download(editor, tenant, pdf["id"], inline=1)["Location"], timeout=10)
    assert inline_pdf.headers["Content-Disposition"].startswith("inline;")
    assert inline_pdf.headers["Content-Type"] == "application/pdf"
    for unsafe in (svg, heic):  # SVG can carry script; HEIC is not rendered by browsers
        fetched = requests.get(download(editor, tenant, unsafe["id"], inline=1)["Location"], timeout=10)
        assert fetched.headers["Content-Disposition"].startswith("attachment;")
        assert fetched.headers["Content-Type"] == "application/octet-stream"


def test_presigned_url_expires(editor, tenant, settings):
    # The signature's date is whole seconds, so a 1-second link can already be stale when
    # first used; three seconds leave room for a slow machine without making the test long.
    settings.S3_PRESIGN_SECONDS = 3
    file = upload(editor, tenant, "a.txt", b"soon gone").json()
    signed_at = time.monotonic()
    url = download(editor, tenant, file["id"])["Location"]
    assert int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0]) == 3
    assert requests.get(url, timeout=10).status_code == 200
    time.sleep(max(0.0, signed_at + 4.5 - time.monotonic()))
    assert requests.get(url, timeout=10).status_code == 403


def test_a_download_records_the_access_unless_it_was_recorded_minutes_ago(editor, tenant):
    file = upload(editor, tenant, "notes.txt", b"words").json()
    now = timezone.now()
    for recorded, moves in ((None, True), (now - timedelta(minutes=6), True), (now - timedelta(minutes=2), False)):
        File.objects.filter(pk=file["id"]).update(last_accessed_at=recorded)
        assert download(editor, tenant, file["id"]).status_code == 302
        after = File.objects.get(pk=file["id"]).last_accessed_at
        assert (after >= now) if moves else (after == recorded), recorded
    # Every download is still an audit event, touched or not.
    assert ActivityEvent.objects.filter(verb="file.downloaded", target_id=file["id"]).count() == 3


def test_older_version_and_access_tracking(editor, tenant):
    file = upload(editor, tenant, "notes.txt", b"first").json()
    upload(editor, tenant, "notes.txt", b"second", on_conflict="replace")
    assert requests.get(download(editor, tenant, file["id"])["Location"], timeout=10).content == b"second"
    assert requests.get(download(editor, tenant, file["id"], version=1)["Location"], timeout=10).content == b"first"
    assert download(editor, tenant, file["id"], version=9).status_code == 404
    assert File.objects.get(pk=file["id"]).last_accessed_at is not None
    events = ActivityEvent.objects.filter(verb="file.downloaded", target_id=file["id"])
    assert events.count() == 2 and events.filter(data__version=1).count() == 1
