"""Encryption at rest in the embedded store (issue 15 item 9): a unique marker uploaded in a
text file appears in no file under the S3 servers' data directories. And the search would
find it: on a server started without `-s3.encryptVolumeData` the marker lies in its volume
files, until `reencrypt_storage` rewrites the data on the same server started with it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.core.management import call_command

from files import storage
from mediaportal.embedded import EmbeddedStack
from tests import services
from tests.files.conftest import downloaded, sha, upload

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def marker() -> bytes:
    return f"MARKER-{os.urandom(12).hex()}".encode()


def holding(directories: list[Path], needle: bytes) -> list[str]:
    """Every file under `directories` whose raw bytes hold `needle`."""
    found = []
    for directory in directories:
        for path in directory.rglob("*"):
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(str(path))
    return found


def test_a_marker_uploaded_in_a_text_file_is_nowhere_on_disk_in_clear(editor, tenant):
    stack = services._stack
    if stack is None or not stack.s3_data_dirs():
        pytest.skip("the S3 server is not the test run's embedded one")
    secret = marker()
    data = b"Minutes of the board meeting.\nThe code word is " + secret + b".\n" * 3
    response = upload(editor, tenant, "minutes.txt", data)
    assert response.status_code == 201, response.content
    assert downloaded(editor, tenant, response.json()["id"]) == (200, data)
    assert holding(stack.s3_data_dirs(), secret) == []
    assert holding(stack.s3_data_dirs(), b"Minutes of the board meeting") == []


def test_reencrypt_storage_encrypts_what_an_unencrypted_server_wrote(settings, tmp_path, monkeypatch, capsys):
    args, encrypting = EmbeddedStack._weed_args, EmbeddedStack.__dict__["_weed_args"]
    monkeypatch.setattr(
        EmbeddedStack, "_weed_args", staticmethod(lambda *a: [x for x in args(*a) if x != "-s3.encryptVolumeData"])
    )
    stack = EmbeddedStack(var_dir=tmp_path, log=lambda line: None)
    env = stack.start(postgres=False, redis=False, s3=True, replica=False)
    try:
        for name in ("S3_ENDPOINT_URL", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
            setattr(settings, name, env[name])
            setattr(settings, name.replace("S3_", "S3_REPLICA_", 1), env[name])
        settings.S3_PUBLIC_ENDPOINT_URL = env["S3_ENDPOINT_URL"]
        settings.SEAWEEDFS_MASTER_URLS = env["SEAWEEDFS_MASTER_URLS"].split(",")
        secret = marker()
        data = b"written before encryption was on: " + secret
        written = {role: f"tenants/t/blobs/{role}" for role in ("primary", "archive", "replica")}
        for role, key in written.items():
            storage.object_put(
                key=key, body=data, sha256=sha(data), content_type="text/plain", tenant_id="t", role=role
            )
        assert holding(stack.s3_data_dirs(), secret)  # the search finds clear text when there is some

        monkeypatch.setattr(EmbeddedStack, "_weed_args", encrypting)
        stack.stop_s3("weed")
        stack.restart_s3("weed")  # now with -s3.encryptVolumeData
        _wait_readable(written["primary"])
        call_command("reencrypt_storage")
        assert "Done (rewrite)" in capsys.readouterr().out
        for role, key in written.items():
            assert b"".join(storage.object_chunks(key, role=role)) == data
            assert storage.object_head(key, role)["Metadata"] == {"sha256": sha(data), "tenant": "t"}
        assert holding(stack.s3_data_dirs(), secret) == []  # the command compacted the volumes
    finally:
        stack.stop()


def _wait_readable(key: str, timeout: float = 30) -> None:
    # A restarted server lists its buckets before its volumes have registered again.
    deadline = time.monotonic() + timeout
    while True:
        try:
            storage.object_head(key)
            b"".join(storage.object_chunks(key))
            return
        except storage.StorageUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
