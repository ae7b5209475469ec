"""S3 clients for the primary, replica and archive stores.

One client per role and process: boto3 clients are thread-safe and expensive to build.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote

import boto3
from botocore import auth as botocore_auth
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from mediaportal.exceptions import ServiceUnavailable


def _config(*, fast: bool = False) -> Config:
    return Config(
        s3={"addressing_style": settings.S3_ADDRESSING_STYLE},
        signature_version="s3v4",
        connect_timeout=1 if fast else 3,
        read_timeout=2 if fast else 60,
        retries={"max_attempts": 1 if fast else 3, "mode": "standard"},
        # Checksums only where S3 requires them: we hash with SHA-256 ourselves, and the
        # extra CRC pass costs ~50% on large PUTs against S3-compatible servers.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )


# SigV4 signs a PUT by the SHA-256 of its body, which botocore gets by reading the whole body
# back and hashing it: for an upload, a second pass over 10 MB for the hash we computed while
# the bytes arrived, and that `object_put` sends as the object's metadata. This signer takes
# the hash from there. The request on the wire is unchanged (and AWS S3 still refuses a body
# that does not match the signed hash).
_KNOWN_SHA256 = "mediaportal_body_sha256"
_KNOWN_SHA256_SIGNER = "s3v4-known-body-sha256"


class _KnownBodySha256Auth(botocore_auth.S3SigV4Auth):
    def payload(self, request) -> str:
        known = request.context.get(_KNOWN_SHA256)
        if known and self._should_sha256_sign_payload(request) and not self._is_streaming_checksum_payload(request):
            return known
        return super().payload(request)


botocore_auth.AUTH_TYPE_MAPS.setdefault(_KNOWN_SHA256_SIGNER, _KnownBodySha256Auth)


def _note_body_sha256(params: dict, context: dict, **kwargs) -> None:
    sha256 = (params.get("Metadata") or {}).get("sha256")
    if sha256:
        context[_KNOWN_SHA256] = sha256


def _choose_known_sha256_signer(context: dict, signature_version: str, **kwargs) -> str | None:
    # Only for plain requests: presigning appends a suffix ("s3v4-query") and keeps botocore's.
    if context.get(_KNOWN_SHA256) and signature_version in ("v4", "s3v4"):
        return _KNOWN_SHA256_SIGNER
    return None


@lru_cache(maxsize=8)
def s3_client(role: str = "primary", *, fast: bool = False, public: bool = False):
    """The S3 client for `primary`, `replica` or `archive`; `public` signs URLs for browsers."""
    if role == "replica":
        endpoint, region = settings.S3_REPLICA_ENDPOINT_URL, settings.S3_REPLICA_REGION
        key, secret = settings.S3_REPLICA_ACCESS_KEY_ID, settings.S3_REPLICA_SECRET_ACCESS_KEY
    else:
        endpoint = settings.S3_PUBLIC_ENDPOINT_URL if public else settings.S3_ENDPOINT_URL
        region, key, secret = settings.S3_REGION, settings.S3_ACCESS_KEY_ID, settings.S3_SECRET_ACCESS_KEY
    client = boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region,
        aws_access_key_id=key or None,
        aws_secret_access_key=secret or None,
        config=_config(fast=fast),
    )
    client.meta.events.register("before-parameter-build.s3.PutObject", _note_body_sha256)
    client.meta.events.register_first("choose-signer.s3.PutObject", _choose_known_sha256_signer)
    return client


def bucket_for(role: str = "primary") -> str:
    return {
        "primary": settings.S3_BUCKET,
        "replica": settings.S3_REPLICA_BUCKET,
        "archive": settings.S3_ARCHIVE_BUCKET,
    }[role]


# --- Object operations --------------------------------------------------------------
# Every S3 call the files app makes goes through these, so a storage outage surfaces as one
# error (503 `storage_unavailable`) instead of a botocore traceback.

log = logging.getLogger(__name__)


class StorageUnavailable(ServiceUnavailable):
    default_code = "storage_unavailable"
    default_detail = "File storage is unavailable right now; nothing was saved. Try again shortly."


class ObjectChanged(Exception):
    """A conditional copy's source is no longer the object that was read (or is gone)."""


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def _is_precondition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"412", "PreconditionFailed"}


@contextmanager
def storage_errors(action: str):
    try:
        yield
    except ClientError as exc:
        # Answers about the object, not the service: the caller decides what they mean.
        if _is_missing(exc) or _is_precondition_failed(exc):
            raise
        log.warning("S3 %s failed: %s", action, exc)
        raise StorageUnavailable() from exc
    except BotoCoreError as exc:
        log.warning("S3 %s failed: %s", action, exc)
        raise StorageUnavailable() from exc


def blob_key(tenant_id, sha256: str) -> str:
    return f"tenants/{tenant_id}/blobs/{sha256[:2]}/{sha256}"


def staging_key(tenant_id, upload_id) -> str:
    return f"tenants/{tenant_id}/staging/{upload_id}"


TENANTS_PREFIX = "tenants/"


class _LargeReads:
    """A file body read in larger pieces. urllib3 sends a file 16 KiB at a time: for 10 MB,
    640 rounds of read and send that each take the GIL back, from a thread that competes for
    it with the request thread while the PUT runs beside the inserts. 256 KiB makes it 40;
    1 MiB pieces added 2 MB to the web worker's peak memory for nothing measurable."""

    READ_BYTES = 256 * 1024

    def __init__(self, file) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size if size is None or size < 0 else max(size, self.READ_BYTES))

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()


def object_put(*, key: str, body, sha256: str, content_type: str, size: int) -> None:
    """Write an object with its SHA-256 beside it (as metadata) for later verification."""
    with storage_errors("put"):
        s3_client().put_object(
            Bucket=bucket_for("primary"),
            Key=key,
            Body=_LargeReads(body) if hasattr(body, "read") else body,
            ContentLength=size,
            ContentType=content_type,
            Metadata={"sha256": sha256},
        )


def object_copy(*, source_key: str, key: str, sha256: str, content_type: str, if_match: str | None = None) -> None:
    """Copy server-side; with `if_match` (an ETag) only if the source is still that object,
    else `ObjectChanged` and nothing is written."""
    params = {
        "Bucket": bucket_for("primary"),
        "Key": key,
        "CopySource": {"Bucket": bucket_for("primary"), "Key": source_key},
        "MetadataDirective": "REPLACE",
        "Metadata": {"sha256": sha256},
        "ContentType": content_type,
    }
    if if_match:
        params["CopySourceIfMatch"] = if_match
    try:
        with storage_errors("copy"):
            s3_client().copy_object(**params)
    except ClientError as exc:  # 412 (replaced since it was read) or 404 (deleted)
        raise ObjectChanged(source_key) from exc


def object_head(key: str) -> dict | None:
    """The object's headers, or None when it does not exist."""
    try:
        with storage_errors("head"):
            return s3_client().head_object(Bucket=bucket_for("primary"), Key=key)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise


@dataclass
class OpenedObject:
    """One GET in progress: the size and ETag of exactly the bytes `chunks` yields."""

    size: int
    etag: str
    chunks: Iterator[bytes]
    _body: object

    def close(self) -> None:
        self._body.close()


def object_open(key: str, chunk_size: int = 1024 * 1024) -> OpenedObject | None:
    """Start reading an object; None when it does not exist. Close it if not read to the end."""
    try:
        with storage_errors("get"):
            response = s3_client().get_object(Bucket=bucket_for("primary"), Key=key)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    body = response["Body"]

    def chunks() -> Iterator[bytes]:
        with storage_errors("get"):
            try:
                yield from body.iter_chunks(chunk_size)
            finally:
                body.close()

    return OpenedObject(size=response["ContentLength"], etag=response["ETag"], chunks=chunks(), _body=body)


def object_chunks(key: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
    with storage_errors("get"):
        body = s3_client().get_object(Bucket=bucket_for("primary"), Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()


def object_delete(key: str) -> None:
    with storage_errors("delete"):
        s3_client().delete_object(Bucket=bucket_for("primary"), Key=key)


def object_keys(prefix: str) -> Iterator[dict]:
    """Every object under `prefix`, as S3 lists them (Key, Size, LastModified)."""
    with storage_errors("list"):
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket_for("primary"), Prefix=prefix):
            yield from page.get("Contents", [])


def object_prefixes(prefix: str) -> Iterator[str]:
    """The "folders" right below `prefix` ("tenants/" → "tenants/<id>/", ...).

    Some servers (SeaweedFS) keep listing a folder after its last object is gone."""
    with storage_errors("list"):
        paginator = s3_client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket_for("primary"), Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"]


def object_last_modified(key: str):
    """When the object was last written, or None when it does not exist."""
    head = object_head(key)
    return head["LastModified"] if head else None


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """RFC 6266 header: an ASCII fallback plus the exact UTF-8 name."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in filename) or "download"
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def presigned_get(*, key: str, filename: str, content_type: str, inline: bool = False) -> str:
    params = {
        "Bucket": bucket_for("primary"),
        "Key": key,
        "ResponseContentDisposition": content_disposition(filename, inline=inline),
        "ResponseContentType": content_type if inline else "application/octet-stream",
    }
    expires = min(settings.S3_PRESIGN_SECONDS, 300)
    return s3_client(public=True).generate_presigned_url("get_object", Params=params, ExpiresIn=expires)


def presigned_post(*, key: str, max_bytes: int, expires_in: int) -> dict:
    return s3_client(public=True).generate_presigned_post(
        Bucket=bucket_for("primary"),
        Key=key,
        Conditions=[["content-length-range", 1, max_bytes]],
        ExpiresIn=expires_in,
    )
