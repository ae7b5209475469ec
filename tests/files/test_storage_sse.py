"""Encryption at rest against AWS or another S3 (issue 15 item 9): with S3_SSE set, every
write and copy asks for server-side encryption, in every bucket role; `reencrypt_storage`
encrypts what was stored before.

What botocore sends is read on the real clients (a `before-call` handler, as
test_upload_parsing.py does), and the requests go to a real S3 that encrypts on request:
a SeaweedFS of this module's own with an SSE-S3 key, whose answers say what it applied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from contextlib import contextmanager

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from files import storage
from files.services import exports
from files.storage import multipart as s3_multipart
from files.storage.rewrite import GONE, object_reencrypt
from files.storage.transfer import object_transfer
from mediaportal.embedded import EmbeddedStack
from tests.files.conftest import sha, upload

pytestmark = pytest.mark.django_db

WRITES = {"PutObject", "CopyObject", "CreateMultipartUpload"}
SSE_HEADER = "x-amz-server-side-encryption"


@pytest.fixture(scope="module")
def sse_server(tmp_path_factory):
    """An S3 that encrypts what it is asked to, as AWS does. Without volume encryption: with
    both, SeaweedFS (4.48) makes an object it copies with SSE unreadable."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEED_S3_SSE_KEK", os.urandom(32).hex())
        args = EmbeddedStack._weed_args
        patch.setattr(
            EmbeddedStack, "_weed_args", staticmethod(lambda *a: [x for x in args(*a) if x != "-s3.encryptVolumeData"])
        )
        stack = EmbeddedStack(var_dir=tmp_path_factory.mktemp("sse"), log=lambda line: None)
        env = stack.start(postgres=False, redis=False, s3=True, replica=False)
    yield env
    stack.stop()


@pytest.fixture
def sse(settings, sse_server):
    endpoint = sse_server["S3_ENDPOINT_URL"]
    settings.S3_ENDPOINT_URL = settings.S3_PUBLIC_ENDPOINT_URL = endpoint
    # The replica under another name of the same server: to `same_service` a store elsewhere,
    # so a transfer to it streams through this process and PUTs.
    settings.S3_REPLICA_ENDPOINT_URL = settings.S3_REPLICA_PUBLIC_ENDPOINT_URL = endpoint.replace(
        "127.0.0.1", "localhost"
    )
    settings.S3_ACCESS_KEY_ID = settings.S3_REPLICA_ACCESS_KEY_ID = sse_server["S3_ACCESS_KEY_ID"]
    settings.S3_SECRET_ACCESS_KEY = settings.S3_REPLICA_SECRET_ACCESS_KEY = sse_server["S3_SECRET_ACCESS_KEY"]
    settings.S3_SSE = "AES256"
    settings.SEAWEEDFS_MASTER_URLS = []
    return settings


@contextmanager
def sent():
    """The S3 operations botocore sends on every role's client, with their headers."""
    calls: list[tuple[str, dict]] = []

    def capture(model, params, **kwargs):
        headers = {name.lower(): value.decode() if isinstance(value, bytes) else value for name, value in params["headers"].items()}  # fmt: skip
        calls.append((model.name, headers))

    clients = {id(client): client for client in (storage.s3_client(role) for role in storage.ROLES)}
    for client in clients.values():
        client.meta.events.register("before-call.s3", capture)
    try:
        yield calls
    finally:
        for client in clients.values():
            client.meta.events.unregister("before-call.s3", capture)


def encryption(key: str, role: str = "primary") -> str | None:
    return storage.object_head(key, role).get("ServerSideEncryption")


def test_every_write_and_copy_asks_for_sse_and_gets_it(sse, owner, tenant):
    t = f"/api/v1/tenants/{tenant.slug}/"
    with sent() as calls:
        uploaded = upload(owner, tenant, "put.txt", b"a PUT through the API\n").json()
        direct = _direct_upload(owner, tenant, b"a browser's POST\n")
        multipart = s3_multipart.create(key=storage.staging_key(tenant.id, "mp"), content_type="text/plain")
        key = storage.blob_key(tenant.id, uploaded["sha256"])
        for target in ("archive", "replica"):  # a server-side copy, then a streamed PUT
            object_transfer(
                key=key, source="primary", target=target, sha256=uploaded["sha256"], content_type="text/plain", tenant_id=tenant.id
            )  # fmt: skip
        export = owner.post(t + "exports/").json()
        assert exports.export_run(export_id=export["id"]) == "ready"
    s3_multipart.abort(key=storage.staging_key(tenant.id, "mp"), upload_id=multipart)

    writes = [(operation, headers.get(SSE_HEADER)) for operation, headers in calls if operation in WRITES]
    assert {operation for operation, _ in writes} == WRITES
    assert all(asked == "AES256" for _, asked in writes), writes
    assert ("PutObject", "AES256") in writes and len(writes) >= 6
    written = [
        (key, "primary"),
        (key, "archive"),
        (key, "replica"),
        (storage.blob_key(tenant.id, direct), "primary"),
        (exports.export_key(tenant.id, export["id"]), "primary"),
    ]
    assert {place: encryption(*place) for place in written} == dict.fromkeys(written, "AES256")


def _direct_upload(client, tenant, data: bytes) -> str:
    """A direct upload: the presigned POST's form asks for SSE and its policy requires it."""
    t = f"/api/v1/tenants/{tenant.slug}/"
    created = client.post(t + "uploads/", {"filename": "direct.txt", "size": len(data)}, format="json").json()
    fields = created["fields"]
    assert fields[SSE_HEADER] == "AES256"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {SSE_HEADER: "AES256"} in policy["conditions"]
    without = {name: value for name, value in fields.items() if name != SSE_HEADER}
    refused = requests.post(created["url"], data=without, files={"file": ("direct.txt", data)}, timeout=30)
    assert refused.status_code == 403  # the policy holds the form to its encryption field
    posted = requests.post(created["url"], data=fields, files={"file": ("direct.txt", data)}, timeout=30)
    assert posted.status_code in (200, 201, 204), posted.text
    assert encryption(storage.staging_key(tenant.id, created["id"])) == "AES256"
    assert client.post(t + f"uploads/{created['id']}/complete/", {}, format="json").status_code == 201
    return sha(data)


def test_without_s3_sse_nothing_is_asked(sse, tenant):
    sse.S3_SSE = ""
    with sent() as calls:
        storage.object_put(
            key=f"tenants/{tenant.id}/plain", body=b"plain", sha256=sha(b"plain"), content_type="text/plain"
        )
    assert [(operation, SSE_HEADER in headers) for operation, headers in calls] == [("PutObject", False)]
    assert storage.presigned_post(key="k", max_bytes=10, expires_in=60)["fields"].keys().isdisjoint({SSE_HEADER})


def test_kms_asks_for_the_key(settings):
    settings.S3_SSE, settings.S3_SSE_KMS_KEY_ID = "aws:kms", "arn:aws:kms:eu-west-1:111122223333:key/k-1"
    assert storage.sse_parameters() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": settings.S3_SSE_KMS_KEY_ID}
    fields = storage.presigned_post(key="k", max_bytes=10, expires_in=60)["fields"]
    assert fields[SSE_HEADER] == "aws:kms"
    assert fields[SSE_HEADER + "-aws-kms-key-id"] == settings.S3_SSE_KMS_KEY_ID


def _stored_in_clear(sse, tenant) -> dict[tuple[str, str], bytes]:
    """Objects written before S3_SSE was set: a blob, an archived one (GLACIER), a manifest."""
    sse.S3_SSE = ""
    objects = {}
    for role, key, data, storage_class in (
        ("primary", f"tenants/{tenant.id}/blobs/aa/old", b"written long ago", None),
        ("archive", f"tenants/{tenant.id}/blobs/bb/cold", b"archived long ago", "GLACIER"),
        ("replica", f"tenants/{tenant.id}/manifest.json", b"{}", None),
    ):
        storage.object_put(
            key=key, body=data, sha256=sha(data), content_type="text/plain", tenant_id=tenant.id, role=role, storage_class=storage_class
        )  # fmt: skip
        assert encryption(key, role) is None
        objects[(role, key)] = data
    sse.S3_SSE = "AES256"
    return objects


@pytest.mark.parametrize("mode", ["copy", "rewrite"])
def test_reencrypt_storage_encrypts_what_was_stored_before(sse, tenant, mode, monkeypatch, capsys):
    objects = _stored_in_clear(sse, tenant)
    vanishing = f"tenants/{tenant.id}/staging/vanishing"
    storage.object_put(key=vanishing, body=b"x", sha256=sha(b"x"), content_type="text/plain")
    real, listings = storage.object_keys, []

    def listed_then_deleted(prefix, role="primary"):
        listings.append(role)
        for item in real(prefix, role):
            # The second listing is the rewriting one (the first counts): a purge deletes the
            # object after it is listed, before it is rewritten.
            if item["Key"] == vanishing and listings.count("primary") == 2:
                storage.object_delete(vanishing)
            yield item

    monkeypatch.setattr(storage, "object_keys", listed_then_deleted)
    call_command("reencrypt_storage", "--mode", mode)
    out = capsys.readouterr().out
    assert "1 deleted or replaced meanwhile" in out and f"Done ({mode})" in out
    assert storage.object_head(vanishing) is None  # not brought back
    for (role, key), data in objects.items():
        head = storage.object_head(key, role)
        assert head["ServerSideEncryption"] == "AES256", (role, key)
        assert head["Metadata"] == {"sha256": sha(data), "tenant": str(tenant.id)}
        assert head["ContentType"] == "text/plain"
        assert head.get("StorageClass") == ("GLACIER" if role == "archive" else None)
        assert b"".join(storage.object_chunks(key, role=role)) == data
    call_command("reencrypt_storage", "--mode", mode, "--role", "replica")
    again = capsys.readouterr().out
    assert ("already encrypted" if mode == "copy" else "rewritten") in again


def test_reencrypt_storage_leaves_damaged_bytes_alone_and_says_so(sse, tenant, capsys):
    key = f"tenants/{tenant.id}/blobs/cc/damaged"
    good = hashlib.sha256(b"what was stored").hexdigest()
    storage_client = storage.bucket_storage("primary")
    storage_client.client.put_object(
        Bucket=storage_client.bucket_name, Key=key, Body=b"what is there now", Metadata={"sha256": good}
    )
    with pytest.raises(CommandError, match="could not be rewritten") as failed:
        call_command("reencrypt_storage", "--mode", "rewrite", "--role", "primary")
    assert failed.value.returncode == 1 and key in capsys.readouterr().err
    assert b"".join(storage.object_chunks(key)) == b"what is there now"


@pytest.mark.parametrize(("mode", "operation"), [("copy", "CopyObject"), ("rewrite", "PutObject")])
def test_an_object_deleted_while_it_is_rewritten_stays_deleted(sse, tenant, mode, operation):
    key = f"tenants/{tenant.id}/blobs/dd/purged"
    sse.S3_SSE = ""
    storage.object_put(key=key, body=b"purged", sha256=sha(b"purged"), content_type="text/plain")
    sse.S3_SSE = "AES256"
    client = storage.s3_client()

    def purge_first(**kwargs):  # a purge wins the race: the object goes just before the write
        storage.object_delete(key)

    client.meta.events.register(f"before-call.s3.{operation}", purge_first)
    try:
        assert object_reencrypt(key, role="primary", mode=mode) == GONE
    finally:
        client.meta.events.unregister(f"before-call.s3.{operation}", purge_first)
    assert storage.object_head(key) is None
