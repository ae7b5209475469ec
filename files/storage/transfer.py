"""Moving bytes between bucket roles: to the archive and back, to the replica region and
back, and checking that an object still holds the bytes it was stored with.

A copy between buckets of one S3 service is server-side; between services (the replica is
another region, account or provider) the bytes pass through this process, are hashed on the
way, and are written with their SHA-256 as the checksum the target checks.
"""

from __future__ import annotations

import hashlib
import tempfile

from botocore.exceptions import ClientError
from django.conf import settings

from files.storage import (
    _is_missing,
    bucket_storage,
    object_copy,
    object_head,
    object_open,
    object_put,
    storage_errors,
)

# Bytes a transfer through this process keeps in memory before spilling to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
# Storage classes that must be restored before a GET (S3 answers InvalidObjectState).
COLD_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}


class ObjectMissing(Exception):
    """The source object of a transfer does not exist."""


class ObjectCorrupt(Exception):
    """An object's bytes do not have the SHA-256 they were stored with."""


def same_service(first: str, second: str) -> bool:
    """Whether two roles' buckets live on one S3 service with one identity (a server-side
    copy can then move bytes between them)."""
    a, b = bucket_storage(first), bucket_storage(second)
    return (a.endpoint_url, a.region_name, a.access_key) == (b.endpoint_url, b.region_name, b.access_key)


def object_transfer(
    *,
    key: str,
    source: str,
    target: str,
    sha256: str,
    content_type: str,
    tenant_id,
    storage_class: str | None = None,
) -> None:
    """Make `target`'s bucket hold `source`'s object under the same key (in the archive
    bucket, in S3_ARCHIVE_STORAGE_CLASS unless `storage_class` says otherwise).

    Raises `ObjectMissing` when the source has no such object, `ObjectCorrupt` (and writes
    nothing) when its bytes are not `sha256`'s, `files.storage.ObjectArchived` when it must be restored
    first, and `StorageUnavailable` when either service is down.
    """
    if storage_class is None and target == "archive":
        storage_class = settings.S3_ARCHIVE_STORAGE_CLASS
    if same_service(source, target):
        # Server-side: S3 copies the bytes it holds; a copy of a damaged object would be
        # damaged too, which the scrub (re-hashing both sides) finds.
        if object_head(key, source) is None:
            raise ObjectMissing(key)
        object_copy(
            source_key=key,
            key=key,
            sha256=sha256,
            content_type=content_type,
            tenant_id=tenant_id,
            source_role=source,
            role=target,
            storage_class=storage_class,
        )
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        if object_fetch(key, role=source, into=spool) != sha256:
            raise ObjectCorrupt(key)
        spool.seek(0)
        object_put(
            key=key,
            body=spool,
            sha256=sha256,
            content_type=content_type,
            tenant_id=tenant_id,
            role=target,
            storage_class=storage_class,
        )


def object_copy_from(
    key: str, *, source: str, target: str, tenant_id, sha256: str | None = None, content_type: str | None = None
) -> dict:
    """Copy `key` from `source` into `target` as `object_transfer` does, its SHA-256 and type
    taken from the source's metadata when not given; returns the source's headers.
    `ObjectMissing` when the source lacks the object or no SHA-256 is known for it."""
    head = object_head(key, source)
    sha256 = sha256 or (head or {}).get("Metadata", {}).get("sha256")
    if head is None or not sha256:
        raise ObjectMissing(key)
    object_transfer(
        key=key,
        source=source,
        target=target,
        sha256=sha256,
        content_type=content_type or head.get("ContentType") or "application/octet-stream",
        tenant_id=tenant_id,
    )
    return head


def object_fetch(key: str, *, role: str, into=None) -> str:
    """Read an object to its end (into a file when given); returns the SHA-256 of its bytes.
    `ObjectMissing` when it does not exist."""
    opened = object_open(key, role=role)
    if opened is None:
        raise ObjectMissing(key)
    digest = hashlib.sha256()
    for chunk in opened.chunks:
        digest.update(chunk)
        if into is not None:
            into.write(chunk)
    return digest.hexdigest()


def object_verify(key: str, *, role: str, sha256: str) -> str:
    """ "ok" when the object holds bytes with this SHA-256, "missing" or "corrupt" otherwise."""
    try:
        return "ok" if object_fetch(key, role=role) == sha256 else "corrupt"
    except ObjectMissing:
        return "missing"


def archive_restore_request(key: str, *, days: int, tier: str) -> bool:
    """Ask for a cold archive object to be made readable; True when it can be read now.

    On AWS a GLACIER object needs a restore that takes hours: the first call starts it, later
    calls see it in progress (False) and then done (True). A store without restores (the
    embedded SeaweedFS answers MethodNotAllowed) reads any class at once.
    """
    head = object_head(key, "archive")
    if head is None:
        raise ObjectMissing(key)
    restore = head.get("Restore") or ""
    if head.get("StorageClass") not in COLD_CLASSES or 'ongoing-request="false"' in restore:
        return True
    if 'ongoing-request="true"' in restore:
        return False
    storage = bucket_storage("archive")
    try:
        with storage_errors("restore"):
            try:
                storage.client.restore_object(
                    Bucket=storage.bucket_name,
                    Key=key,
                    RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
                )
            except ClientError as exc:
                # Answers about the object, before storage_errors takes any other for an outage.
                code = exc.response.get("Error", {}).get("Code")
                if code in {"MethodNotAllowed", "NotImplemented"}:
                    return True
                if code == "RestoreAlreadyInProgress":
                    return False
                raise
    except ClientError as exc:  # storage_errors lets "missing" through
        if _is_missing(exc):
            raise ObjectMissing(key) from exc
        raise
    return False
