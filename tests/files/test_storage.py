"""Object storage through the django-storages objects of STORAGES (files.storage)."""

from __future__ import annotations

import threading
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from botocore.exceptions import ClientError
from django.core.files.storage import InvalidStorageError, storages

from files import storage
from tests.files.conftest import sha


def test_a_put_whose_bytes_do_not_match_their_checksum_is_refused():
    """The write is not signed by its body's hash: its integrity rests on the SHA-256
    checksum, which S3 must check against the bytes it received."""
    key = "tests/checksum/refused"
    with pytest.raises(storage.StorageUnavailable) as refused:
        storage.object_put(key=key, body=b"the bytes sent", sha256=sha(b"other bytes"), content_type="text/plain")
    assert isinstance(refused.value.__cause__, ClientError)  # S3's answer, not a check of ours
    assert storage.object_head(key) is None

    storage.object_put(key=key, body=b"the bytes sent", sha256=sha(b"the bytes sent"), content_type="text/plain")
    head = storage.object_head(key)
    assert head["Metadata"] == {"sha256": sha(b"the bytes sent")} and head["ContentType"] == "text/plain"
    storage.object_delete(key)


def test_browser_urls_are_signed_for_the_public_endpoint(settings):
    internal = settings.S3_ENDPOINT_URL
    settings.S3_PUBLIC_ENDPOINT_URL = "http://media.example.test:9000"
    settings.S3_PRESIGN_SECONDS = 3600  # capped at five minutes
    key = "tests/public/endpoint"
    storage.object_put(key=key, body=b"public", sha256=sha(b"public"), content_type="text/plain")
    try:
        url = urlparse(storage.presigned_get(key=key, filename="ä.txt", content_type="text/plain"))
        assert f"{url.scheme}://{url.netloc}" == "http://media.example.test:9000"
        query = parse_qs(url.query)
        assert query["X-Amz-Expires"] == ["300"]
        assert query["response-content-type"] == ["application/octet-stream"]
        assert query["response-content-disposition"] == [storage.content_disposition("ä.txt")]
        post = storage.presigned_post(key="tests/public/post", max_bytes=10, expires_in=60)
        assert post["url"].startswith("http://media.example.test:9000/")

        # The same URL signed for the internal endpoint works there: only the host differs.
        settings.S3_PUBLIC_ENDPOINT_URL = internal
        fetched = requests.get(storage.presigned_get(key=key, filename="ä.txt", content_type="text/plain"), timeout=10)
        assert fetched.status_code == 200 and fetched.content == b"public"
    finally:
        storage.object_delete(key)


def test_one_client_serves_every_thread():
    clients = []
    thread = threading.Thread(target=lambda: clients.append(storage.s3_client()))
    thread.start()
    thread.join()
    assert clients == [storage.s3_client()]


def test_every_storage_names_its_bucket_role(settings):
    assert {role: storages[role].bucket_name for role in storage.ROLES} == {
        "primary": settings.S3_BUCKET,
        "archive": settings.S3_ARCHIVE_BUCKET,
        "replica": settings.S3_REPLICA_BUCKET,
    }
    # No `default`: nothing writes to a bucket without saying which.
    with pytest.raises(InvalidStorageError):
        storages["default"]
