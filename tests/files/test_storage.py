"""Object storage through the django-storages objects of STORAGES (files.storage)."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from urllib.parse import parse_qs, urlparse

import botocore.auth
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


FIXED = time.struct_time((2026, 3, 4, 5, 6, 7, 2, 63, 0))


@pytest.mark.parametrize(
    "endpoint",
    [None, "http://media.example.test:9000", "https://media.example.test", "http://media.example.test:80/s3/"],
)
def test_presigned_get_is_the_url_botocore_signs(settings, monkeypatch, endpoint):
    """The GET URLs the storage signs on the URL alone are, byte for byte, the client's."""
    if endpoint:
        settings.S3_PUBLIC_ENDPOINT_URL = endpoint
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: datetime(*FIXED[:6]))
    primary = storages["primary"]
    for key, filename, content_type, inline in [
        ("tenants/1/renditions/ab/abc/thumbnail.webp", "thumbnail.webp", "image/webp", True),
        ("tenants/2/blobs/x y+z~!'()*&=ü.bin", "Résumé – 2024 “final”.pdf", "application/pdf", False),
        ("tenants/3/x%2Fy:z;@$,[]{}.txt", 'quote" back\\slash\t%20;.txt', "text/plain", False),
    ]:
        parameters = {
            "ResponseContentDisposition": storage.content_disposition(filename, inline=inline),
            "ResponseContentType": content_type,
        }
        for params in (parameters, {}, {"ResponseContentType": content_type}):
            ours = primary.url(key, parameters=params)
            theirs = primary.public_client.generate_presigned_url(
                "get_object", Params={**params, "Bucket": primary.bucket_name, "Key": key}, ExpiresIn=300
            )
            assert ours == theirs


def test_other_presigned_urls_are_left_to_botocore():
    primary = storages["primary"]
    url = primary.url("tests/k", parameters={"VersionId": "3"}, http_method="HEAD")
    assert "versionId=3" in url and "X-Amz-Signature=" in url
