"""The browse page's upload control, by test client: what the page hands upload.js, who gets
it, and the plain form post it falls back to without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Role
from files.models import File, Folder
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import sha, tenant_objects

pytestmark = pytest.mark.django_db


def signed_in(tenant, role=Role.EDITOR) -> Client:
    membership = MembershipFactory(tenant=tenant, role=role)
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=membership.user.username, password=PASSWORD)
    return client


def uploader(html: str) -> dict[str, str]:
    """The data- attributes of the upload control."""
    tag = re.search(r"<section [^>]*data-uploader[^>]*>", html, re.S).group(0)
    return dict(re.findall(r'data-([a-z-]+)="([^"]*)"', tag))


def test_the_page_gives_the_control_its_endpoints_limits_and_names(tenant, settings):
    settings.UPLOAD_MULTIPART_THRESHOLD_BYTES = 123456
    folder = Folder.objects.create(tenant=tenant, name="Scans", path="/Scans/")
    html = signed_in(tenant).get(f"/t/{tenant.slug}/folders/{folder.pk}/").content.decode()
    data = uploader(html)
    assert data["files-url"] == f"/api/v1/tenants/{tenant.slug}/files/"
    assert data["uploads-url"] == f"/api/v1/tenants/{tenant.slug}/uploads/"
    assert data["folder"] == str(folder.pk)
    assert data["threshold"] == "123456" and data["max-bytes"] == str(tenant.max_upload_bytes)
    assert data["csrf"]
    # The accessible names the acceptance journey uses, and the script and styles of the area.
    assert re.search(r"<label[^>]*>Upload<input type=\"file\"[^>]*multiple", html)
    assert re.search(r"<label[^>]*>Upload folder<input type=\"file\"[^>]*webkitdirectory", html)
    assert 'aria-label="All uploads"' in html
    assert "portal/js/upload.js" in html and "portal/upload.css" in html
    assert "style=" not in uploader_block(html) and "<script>" not in html


def uploader_block(html: str) -> str:
    return html[html.index("data-uploader") : html.index("</section>", html.index("data-uploader"))]


def test_viewers_get_no_upload_control(tenant):
    html = signed_in(tenant, Role.VIEWER).get(f"/t/{tenant.slug}/").content.decode()
    assert "data-uploader" not in html and "upload.js" not in html


def test_without_javascript_the_form_posts_the_chosen_files(tenant):
    client = signed_in(tenant)
    folder = Folder.objects.create(tenant=tenant, name="Inbox", path="/Inbox/")
    page = client.get(f"/t/{tenant.slug}/folders/{folder.pk}/").content.decode()
    action = re.search(r'<form method="post" enctype="multipart/form-data"[^>]*action="([^"]+)"', page).group(1)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    body = b"sent by a browser without scripts"
    fields = {"csrfmiddlewaretoken": token, "idempotency_key": key}
    posted = client.post(action.replace("&amp;", "&"), {**fields, "file": SimpleUploadedFile("plain.txt", body)})
    assert posted.status_code == 302 and posted["Location"].endswith(f"/folders/{folder.pk}/")
    file = File.objects.get(tenant=tenant)
    assert file.folder == folder and file.sha256 == sha(body) and len(tenant_objects(tenant)) == 1
