"""S3 frozen (SIGSTOP: it keeps its sockets and answers nothing) and stopped during uploads,
through a real web process: a 503 within 15 s, no rows, and no object left once the
orphan sweep has run. What was acknowledged before stays."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta

import pytest
import requests

from files import storage
from files.models import Blob, File
from files.services.orphans import orphan_sweep
from tests.e2e.web import Api, RawUpload, api_token, frozen, multipart, s3_env, web_server
from tests.files.conftest import sha, tenant_objects

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def text(size: int) -> bytes:
    """`size` bytes of text no other upload has (random hex)."""
    return os.urandom(size // 2).hex().encode()


def names(tenant) -> list[str]:
    return sorted(File.objects.filter(tenant=tenant).values_list("name", flat=True))


def stored_keys(tenant) -> list[str]:
    return sorted(storage.blob_key(tenant.id, sha256) for sha256 in Blob.objects.filter(tenant=tenant).values_list("sha256", flat=True))  # fmt: skip


def test_frozen_s3_is_a_503_within_15_s_and_leaves_nothing_after_the_sweep(editor, tenant, disposable_s3, tmp_path):
    kept = b"acknowledged before the fault"
    with web_server(tmp_path, env=s3_env(disposable_s3.env)) as web:
        api = Api(web, editor, tenant)
        assert api.upload("kept.txt", kept).status_code == 201
        retried = text(10_000)
        for name, data in (("retried.txt", retried), ("abandoned.txt", text(3 * 1024**2))):
            # 10 KB fit in the socket buffers at once; 3 MB do not, and the sends block.
            with frozen(disposable_s3.pid("weed")):
                started = time.monotonic()
                held = api.upload(name, data, key=f"key-{name}", timeout=60)
                elapsed = time.monotonic() - started
            assert held.status_code == 503, held.text
            assert held.json()["code"] == "storage_unavailable"
            assert elapsed < 15, elapsed
            assert names(tenant) == ["kept.txt"]
        with frozen(disposable_s3.pid("weed")):
            started = time.monotonic()
            ready = requests.get(f"{web.url}/readyz", timeout=30)
            elapsed = time.monotonic() - started
        assert ready.status_code == 503 and ready.json()["failing"] == ["s3"]
        assert elapsed < 4, elapsed

        # Thawed: the client retries with its key and gets one file, not "retried (1).txt".
        retry = api.upload("retried.txt", retried, key="key-retried.txt")
        assert retry.status_code == 201, retry.text
        again = api.upload("retried.txt", retried, key="key-retried.txt")
        assert again.status_code == 200 and again.json()["id"] == retry.json()["id"]
        assert names(tenant) == ["kept.txt", "retried.txt"]
    # The server still handles what it took in while frozen, and may store it: no row claims
    # the abandoned upload's object, and the sweep removes it.
    time.sleep(2)
    orphan_sweep(older_than=timedelta(0), tenant_ids=[tenant.id])
    expected = sorted(storage.blob_key(tenant.id, sha(data)) for data in (kept, retried))
    assert tenant_objects(tenant) == stored_keys(tenant) == expected
    assert b"".join(storage.object_chunks(storage.blob_key(tenant.id, sha(kept)))) == kept


def test_s3_stopped_mid_upload_is_a_503_and_keeps_nothing(editor, tenant, disposable_s3, tmp_path):
    with web_server(tmp_path, env=s3_env(disposable_s3.env)) as web:
        api = Api(web, editor, tenant)
        assert api.upload("kept.txt", b"acknowledged before the fault").status_code == 201
        body = multipart("cut.txt", text(2 * 1024**2))
        raw = RawUpload(
            web,
            f"/api/v1/tenants/{tenant.slug}/files/",
            length=len(body),
            headers={"Authorization": f"Token {api_token(editor)}"},
        )
        try:
            raw.send(body[: len(body) // 2])
            disposable_s3.stop_s3()
            raw.send(body[len(body) // 2 :])
            status, answer, elapsed = raw.response()
        finally:
            raw.close()
        assert status == 503, answer
        assert json.loads(answer)["code"] == "storage_unavailable"
        assert elapsed < 15, elapsed
        assert names(tenant) == ["kept.txt"]
        assert api.get("files/").json()["results"][0]["name"] == "kept.txt"
        with pytest.raises(requests.ConnectionError):
            requests.get(disposable_s3.env["S3_ENDPOINT_URL"], timeout=2)
