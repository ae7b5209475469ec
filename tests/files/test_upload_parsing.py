"""The multipart parser of the upload handler, through the API against the real stack, and
against Django's own parser for the (POST, FILES) it hands to the rest of the code."""

from __future__ import annotations

import base64
import io
import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http.multipartparser import MultiPartParser
from django.test.client import encode_multipart

from files import storage, uploads
from files.models import Blob, File
from files.uploads import HashingUploadHandler
from tests.files.conftest import sha, tenant_objects

pytestmark = pytest.mark.django_db

BOUNDARY = "mp-test-boundary-7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, *, filename: bytes | None = None, headers: bytes = b"") -> bytes:
    disposition = b'Content-Disposition: form-data; name="' + name.encode() + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename + b'"'
    return b"--" + BOUNDARY.encode() + b"\r\n" + disposition + b"\r\n" + headers + b"\r\n" + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + b"--" + BOUNDARY.encode() + b"--\r\n"


def post(client, tenant, data: bytes, content_type: str = CONTENT_TYPE):
    return client.generic("POST", f"/api/v1/tenants/{tenant.slug}/files/", data, content_type=content_type)


def assert_nothing_stored(tenant) -> None:
    assert not File.objects.filter(tenant=tenant).exists()
    assert not Blob.objects.filter(tenant=tenant).exists()
    assert tenant_objects(tenant) == []


def test_non_ascii_file_names_raw_and_rfc2231(editor, tenant):
    raw = post(editor, tenant, body(part("file", b"raw utf-8 name", filename="Ünïcødé 写真.txt".encode())))
    assert raw.status_code == 201, raw.content
    assert raw.json()["name"] == "Ünïcødé 写真.txt"

    encoded = (
        b"--" + BOUNDARY.encode() + b"\r\n"
        b"Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E5%86%99%E7%9C%9F%20n%C3%B8te.txt\r\n"
        b"Content-Type: text/plain\r\n\r\n"
        b"rfc 2231 name\r\n"
    )
    response = post(editor, tenant, body(encoded))
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "写真 nøte.txt"


def test_fields_before_and_after_the_file(editor, tenant):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Docs"}, format="json").json()
    data = b"the file between its fields"
    response = post(
        editor,
        tenant,
        body(
            part("description", "Désormais".encode()),
            part("tags", b"Red"),
            part("file", data, filename=b"between.txt", headers=b"Content-Type: text/plain\r\n"),
            part("tags", b"blue"),
            part("folder", folder["id"].encode()),
        ),
    )
    assert response.status_code == 201, response.content
    file = response.json()
    assert file["description"] == "Désormais" and file["tags"] == ["red", "blue"]
    assert file["folder"] == folder["id"] and file["size"] == len(data) and file["sha256"] == sha(data)
    assert b"".join(storage.object_chunks(storage.blob_key(tenant.id, sha(data)))) == data


# Where the delimiter after the file ("\r\n--boundary") starts, relative to the end of the
# first read: wholly in the first, straddling the two by 1..n-1 bytes, wholly in the second.
DELIMITER = len(BOUNDARY) + 4


@pytest.mark.parametrize("before_edge", [DELIMITER + 1, DELIMITER, DELIMITER - 1, DELIMITER // 2, 2, 1, 0, -1])
def test_boundary_split_across_reads(editor, tenant, before_edge):
    head = part("file", b"", filename=b"edge.txt")[: -len(b"\r\n")]
    size = uploads.READ_CHUNK_BYTES - len(head) - before_edge
    data = os.urandom(size // 2 + 1).hex().encode()[:size]
    raw = body(head + data + b"\r\n", part("description", b"after the edge"))
    assert raw.index(b"\r\n--" + BOUNDARY.encode(), len(head)) == uploads.READ_CHUNK_BYTES - before_edge

    response = post(editor, tenant, raw)
    assert response.status_code == 201, response.content
    assert response.json()["size"] == size and response.json()["sha256"] == sha(data)
    assert response.json()["description"] == "after the edge"
    assert b"".join(storage.object_chunks(storage.blob_key(tenant.id, sha(data)))) == data


@pytest.mark.parametrize(
    "damage",
    [
        "cut in the file",
        "cut before the closing dashes",
        "no boundary at all",
        "boundary with trailing garbage",
        "part without a blank line",
        "bad base64",
    ],
)
def test_malformed_body_is_400_and_stores_nothing(editor, tenant, damage):
    data = os.urandom(300_000).hex().encode()
    whole = body(part("description", b"x"), part("file", data, filename=b"a.txt"))
    raw = {
        "cut in the file": whole[: len(whole) // 2],
        "cut before the closing dashes": whole[: -len(b"--\r\n")],
        "no boundary at all": b"just some bytes\r\n\r\nand more",
        "boundary with trailing garbage": whole.replace(
            b"--" + BOUNDARY.encode() + b"\r\n", b"--" + BOUNDARY.encode() + b"X\r\n"
        ),
        "part without a blank line": body(
            b"--" + BOUNDARY.encode() + b'\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        ),
        "bad base64": body(
            part("file", b"bm90IGJhc2U2N", filename=b"a.txt", headers=b"Content-Transfer-Encoding: base64\r\n")
        ),
    }[damage]
    response = post(editor, tenant, raw)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "parse_error" and response.json()["detail"]
    assert_nothing_stored(tenant)


@pytest.mark.parametrize("truncate", [False, True])
def test_session_auth_reads_the_body_for_csrf_through_the_same_parser(tenant, truncate):
    from django.middleware.csrf import _get_new_csrf_string
    from rest_framework.test import APIClient

    from accounts.models import Role
    from tests.factories import MembershipFactory

    membership = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(membership.user)
    token = _get_new_csrf_string()
    client.cookies["csrftoken"] = token
    raw = body(part("description", b"by session"), part("file", b"abc", filename=b"a.txt"))
    response = client.generic(
        "POST",
        f"/api/v1/tenants/{tenant.slug}/files/",
        raw[:-6] if truncate else raw,
        content_type=CONTENT_TYPE,
        HTTP_X_CSRFTOKEN=token,
    )
    if truncate:
        assert response.status_code == 400, response.content
        assert response.json()["code"] == "parse_error"
        assert_nothing_stored(tenant)
    else:
        assert response.status_code == 201, response.content
        assert response.json()["description"] == "by session"


def test_file_past_the_limit_is_413_while_streaming(editor, tenant):
    # Declared length within the slack allowed for form fields, so the handler must stop it.
    tenant.max_upload_bytes = uploads.READ_CHUNK_BYTES + 1000
    tenant.save()
    data = b"y" * (tenant.max_upload_bytes + 5000)
    response = post(editor, tenant, body(part("file", data, filename=b"big.txt"), part("description", b"late")))
    assert response.status_code == 413 and response.json()["code"] == "file_too_large"
    assert_nothing_stored(tenant)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def test_upload_sends_the_hash_computed_while_receiving_as_its_checksum(editor, tenant):
    """The S3 PUT carries the upload's SHA-256 as its checksum (which S3 checks the bytes
    against) instead of hashing the body again for the signature."""
    sent = []

    def capture(request, **kwargs):
        sent.append(tuple(_text(request.headers[name]) for name in ("X-Amz-Content-SHA256", "x-amz-checksum-sha256")))

    data = os.urandom(100_000).hex().encode()
    events = storage.s3_client().meta.events
    events.register("before-send.s3.PutObject", capture)
    try:
        response = post(editor, tenant, body(part("file", data, filename=b"signed.txt")))
    finally:
        events.unregister("before-send.s3.PutObject", capture)
    assert response.status_code == 201, response.content
    assert sent == [("UNSIGNED-PAYLOAD", base64.b64encode(bytes.fromhex(sha(data))).decode())]
    assert b"".join(storage.object_chunks(storage.blob_key(tenant.id, sha(data)))) == data


# --- the parser against Django's, without HTTP -------------------------------------------


class DjangoParsed(HashingUploadHandler):
    def handle_raw_input(self, *args, **kwargs):
        return None  # let Django's MultiPartParser feed this handler


def parsed(handler_class, raw: bytes, content_type: str):
    meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(raw))}
    post, files = MultiPartParser(meta, io.BytesIO(raw), [handler_class(max_bytes=10**9)]).parse()
    return (
        sorted(post.lists()),
        post._mutable,
        sorted(
            (key, [(f.name, f.content_type, f.size, f.sha256, f.read()) for f in uploads_])
            for key, uploads_ in files.lists()
        ),
    )


def encoded_bodies():
    dash = b"--" + BOUNDARY.encode()
    binary = bytes(range(256)) * 300 + b"\r\n" + dash[:-1] + b"\r\r\n-"
    fields = {
        "description": "Ünïcødé",
        "tags": ["a", "b"],
        "file": [SimpleUploadedFile("../x/één.bin", binary), SimpleUploadedFile("two.txt", b"2")],
        "empty": SimpleUploadedFile("empty.txt", b""),
    }
    yield pytest.param(CONTENT_TYPE, encode_multipart(BOUNDARY, fields), id="test client encoding")

    base64_field = (
        dash + b" \t\r\n"  # transport padding after the boundary
        b'Content-Disposition: form-data; name="note"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.b64encode("base64 field ✓".encode())
        + b"\r\n"
    )
    typed_file = part(
        "file", b"data", filename=b"C:\\dir\\file.txt", headers=b"Content-Type: Text/Plain; charset=utf-8\r\n"
    )
    no_disposition = dash + b"\r\nX-No-Disposition: 1\r\n\r\nraw part\r\n"
    raw = b"preamble\r\n" + base64_field + typed_file + part("skipped", b"x", filename=b"") + no_disposition
    quoted = f'multipart/form-data; boundary="{BOUNDARY}"'
    yield pytest.param(quoted, raw + dash + b"--\r\nend", id="quoted boundary, preamble, epilogue")

    encoded = base64.encodebytes(os.urandom(5000))
    b64_file = part("file", encoded, filename=b"b64.bin", headers=b"Content-Transfer-Encoding: base64\r\n")
    yield pytest.param(CONTENT_TYPE, body(b64_file), id="base64 file")


@pytest.mark.parametrize("read_size", [1, 7, 1024 * 1024])
@pytest.mark.parametrize(("content_type", "raw"), list(encoded_bodies()))
def test_parser_returns_what_djangos_parser_returns(monkeypatch, read_size, content_type, raw):
    monkeypatch.setattr(uploads, "READ_CHUNK_BYTES", read_size)
    assert parsed(HashingUploadHandler, raw, content_type) == parsed(DjangoParsed, raw, content_type)
