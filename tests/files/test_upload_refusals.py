"""Uploads that are refused are refused before their body is read: who is asking, whether
they may upload there and how much they may send are known from the URL and headers.

Each request here carries a body stream that fails the test when read, declared as large
as a real attack's (gigabytes), through the same WSGI entry a server uses."""

from __future__ import annotations

import uuid

import pytest
from django.core.files.uploadhandler import StopUpload
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Role
from files.models import Blob, File
from files.uploads import HashingUploadHandler
from tests.factories import PASSWORD, MembershipFactory
from tests.files.conftest import tenant_objects, upload
from tests.files.test_upload_parsing import CONTENT_TYPE, body, part, post
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

GIB = 1024**3


class UnreadBody:
    """A request body that must stay unread: a read fails the test (those bytes would have
    been spooled to disk), and is counted in case something swallowed the failure."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, *args, **kwargs) -> bytes:
        self.reads += 1
        raise AssertionError("the request body was read")

    readline = read


def send_unread(client, path: str, *, length: int = 5 * GIB, **headers):
    """POST a multipart body of `length` bytes that must never be read; the response and the stream."""
    stream = UnreadBody()
    response = client.generic(
        "POST",
        path,
        b"",
        content_type=CONTENT_TYPE,
        **{"wsgi.input": stream, "CONTENT_LENGTH": str(length), "CONTENT_TYPE": CONTENT_TYPE, **headers},
    )
    assert stream.reads == 0
    return response


def assert_nothing_stored(tenant) -> None:
    assert not File.objects.filter(tenant=tenant).exists()
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert tenant_objects(tenant) == []


def session_api_client(user) -> tuple[APIClient, dict]:
    """A browser-like API client (session cookie, CSRF enforced) and its CSRF header."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    return client, {"HTTP_X_CSRFTOKEN": token}


@pytest.fixture
def other_tenant(db):
    return MembershipFactory(role=Role.OWNER).tenant


# --- the API ----------------------------------------------------------------------------


@pytest.mark.parametrize("auth", ["token", "session", "session, browsable API"])
def test_api_upload_to_a_tenant_the_caller_is_not_in_is_404_unread(tenant, other_tenant, auth):
    membership = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    if auth == "token":
        client, headers = client_for(membership.user), {}
    else:
        client, headers = session_api_client(membership.user)
        if "browsable" in auth:
            headers["HTTP_ACCEPT"] = "text/html"
    response = send_unread(client, f"/api/v1/tenants/{other_tenant.slug}/files/", **headers)
    assert response.status_code == 404
    assert_nothing_stored(other_tenant)


@pytest.mark.parametrize("auth", ["token", "session"])
def test_api_upload_by_a_viewer_is_403_unread(tenant, member, auth):
    viewer = member(Role.VIEWER)
    client, headers = (viewer, {}) if auth == "token" else session_api_client(viewer.user)
    response = send_unread(client, f"/api/v1/tenants/{tenant.slug}/files/", **headers)
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert_nothing_stored(tenant)


@pytest.mark.parametrize("auth", ["token", "session"])
def test_api_upload_declared_over_the_limit_is_413_unread(editor, tenant, auth):
    client, headers = (editor, {}) if auth == "token" else session_api_client(editor.user)
    response = send_unread(client, f"/api/v1/tenants/{tenant.slug}/files/", **headers)
    assert response.status_code == 413
    assert response.json() == {"detail": f"Files are limited to {tenant.max_upload_bytes} bytes in this tenant.",
                               "code": "file_too_large"}  # fmt: skip
    assert_nothing_stored(tenant)


def test_anonymous_api_upload_is_401_unread(tenant):
    response = send_unread(APIClient(), f"/api/v1/tenants/{tenant.slug}/files/")
    assert response.status_code == 401


def test_version_upload_is_refused_unread_unless_the_caller_may_change_the_file(editor, member, tenant):
    file = upload(editor, tenant, "mine.txt", b"version one").json()
    viewer = member(Role.VIEWER)
    versions = f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/versions/"
    assert send_unread(viewer, versions).status_code == 403
    unknown = f"/api/v1/tenants/{tenant.slug}/files/{uuid.uuid4()}/versions/"
    assert send_unread(editor, unknown).status_code == 404
    assert send_unread(editor, versions).status_code == 413
    assert File.objects.get(pk=file["id"]).versions.count() == 1


def test_file_parts_together_over_the_limit_are_413(editor, tenant):
    """The limit bounds all file parts of a body, not each: a second file field is no way
    around it (the declared length is within the slack allowed for form fields)."""
    tenant.max_upload_bytes = 100_000
    tenant.save()
    raw = body(part("file", b"a" * 60_000, filename=b"a.txt"), part("extra", b"b" * 60_000, filename=b"b.txt"))
    response = post(editor, tenant, raw)
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert_nothing_stored(tenant)


def test_the_handler_counts_every_file_part():
    handler = HashingUploadHandler(max_bytes=1000)
    handler.new_file("file", "one.bin", "application/octet-stream", None)
    handler.receive_data_chunk(b"x" * 600, 0)
    handler.file_complete(600)
    handler.new_file("file", "two.bin", "application/octet-stream", None)
    with pytest.raises(StopUpload):
        handler.receive_data_chunk(b"x" * 600, 0)
    assert handler.too_large and handler.received == 1200


def test_a_closed_handler_reads_nothing():
    """Installed with the request, the handler lets nothing read the body until the view opens it."""
    handler = HashingUploadHandler()
    stream = UnreadBody()
    assert handler.handle_raw_input(stream, {}, 5 * GIB, b"boundary") == ({}, {})
    assert stream.reads == 0


# --- the portal -------------------------------------------------------------------------


def browser_for(membership) -> tuple[Client, dict]:
    client = Client(enforce_csrf_checks=True)
    assert client.login(username=membership.user.username, password=PASSWORD)
    client.get(f"/t/{membership.tenant.slug}/")
    return client, {"HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value}


def test_portal_upload_is_refused_unread(tenant, other_tenant):
    editor = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    browser, csrf = browser_for(editor)
    assert send_unread(browser, f"/t/{other_tenant.slug}/upload/", **csrf).status_code == 404

    too_large = send_unread(browser, f"/t/{tenant.slug}/upload/", **csrf)
    assert too_large.status_code == 302
    page = browser.get(too_large["Location"]).content.decode()
    assert f"Files are limited to {tenant.max_upload_bytes:,} bytes." in page

    viewer, csrf = browser_for(MembershipFactory(tenant=tenant, role=Role.VIEWER))
    refused = send_unread(viewer, f"/t/{tenant.slug}/upload/", **csrf)
    assert refused.status_code == 302
    assert "Viewers cannot upload files." in viewer.get(refused["Location"]).content.decode()
    assert_nothing_stored(tenant)
    assert_nothing_stored(other_tenant)


# --- share links ------------------------------------------------------------------------


def upload_link(editor, tenant, **options) -> str:
    name = f"Inbox {uuid.uuid4().hex[:8]}"
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": name}, format="json").json()
    created = editor.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"folder": folder["id"], **options}, format="json")
    assert created.status_code == 201, created.content
    return created.json()["token"]


def test_share_upload_is_refused_unread(editor, tenant):
    visitor = Client(enforce_csrf_checks=True)
    assert send_unread(visitor, "/s/not-a-real-token/upload").status_code == 404

    file = upload(editor, tenant, "shared.txt", b"shared")
    download_only = editor.post(f"/api/v1/tenants/{tenant.slug}/shares/", {"file": file.json()["id"]}, format="json")
    assert send_unread(visitor, f"/s/{download_only.json()['token']}/upload").status_code == 404

    locked = upload_link(editor, tenant, allow_upload=True, password="open sesame")
    response = send_unread(visitor, f"/s/{locked}/upload")
    assert response.status_code == 302 and response["Location"] == f"/s/{locked}"

    token = upload_link(editor, tenant, allow_upload=True)
    visitor.get(f"/s/{token}")
    too_large = send_unread(visitor, f"/s/{token}/upload", HTTP_X_CSRFTOKEN=visitor.cookies["csrftoken"].value)
    assert too_large.status_code == 413
    assert f"Files are limited to {tenant.max_upload_bytes:,} bytes." in too_large.content.decode()
    assert File.objects.filter(tenant=tenant).count() == 1
