"""Rewriting a stored object in place so that it is encrypted at rest (`reencrypt_storage`).

Two ways, one per kind of store:
- `rewrite`: GET the bytes and PUT them back under the same key with the same type,
  metadata and storage class. The embedded SeaweedFS encrypts what it is given since it runs
  with `-s3.encryptVolumeData`; data written before that lies in clear until rewritten.
  The bytes are checked against the SHA-256 in their metadata before anything is written,
  and the PUT carries that checksum, so S3 stores exactly what was read.
- `copy`: a server-side copy of the object onto itself asking for S3_SSE (AWS and other S3s
  that encrypt on request): no bytes pass through this process.

Both are conditional on the object still being the one read (If-Match on its ETag): an
object deleted or replaced meanwhile is left alone, never brought back.
"""

from __future__ import annotations

import base64
import hashlib
import tempfile

from botocore.exceptions import ClientError

from files.storage import (
    MAX_PUT_BYTES,
    _is_archived,
    _is_missing,
    _is_precondition_failed,
    bucket_storage,
    object_head,
    sse_parameters,
    storage_errors,
)
from files.storage.streaming import MultipartWriter, part_bytes_for

REWRITTEN = "rewritten"
ALREADY = "already encrypted"
GONE = "deleted or replaced meanwhile"
CORRUPT = "not matching its SHA-256 (left alone)"
COLD = "in a cold storage class (restore it first)"

# Bytes of one object kept in memory before spilling to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024
# Headers a write sets that a rewrite must set again, as S3 names them in a HEAD/GET answer.
KEPT_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage")


def _same_headers(answer: dict) -> dict:
    """The write parameters that keep what the object had: type, metadata, storage class."""
    params = {"ContentType": answer.get("ContentType") or "application/octet-stream"}
    params["Metadata"] = answer.get("Metadata") or {}
    params.update({name: answer[name] for name in KEPT_HEADERS if answer.get(name)})
    # Absent means STANDARD; a copy or PUT without it would make a cold object STANDARD.
    if answer.get("StorageClass"):
        params["StorageClass"] = answer["StorageClass"]
    return params


def _outcome_of(exc: ClientError) -> str | None:
    if _is_missing(exc) or _is_precondition_failed(exc):
        return GONE
    if _is_archived(exc):
        return COLD
    return None


def object_reencrypt(key: str, *, role: str, mode: str) -> str:
    """Rewrite one object of the role's bucket ("rewrite" or "copy"); returns the outcome."""
    with storage_errors("re-encrypt"):
        try:
            return _copy_onto_itself(key, role) if mode == "copy" else _rewrite(key, role)
        except ClientError as exc:
            if (outcome := _outcome_of(exc)) is None:
                raise  # storage_errors: StorageUnavailable
            return outcome


def _encrypted_as_asked(head: dict) -> bool:
    wanted = sse_parameters()
    return head.get("ServerSideEncryption") == wanted.get("ServerSideEncryption") and (
        "SSEKMSKeyId" not in wanted or wanted["SSEKMSKeyId"] in (head.get("SSEKMSKeyId") or "")
    )


def _copy_onto_itself(key: str, role: str) -> str:
    # MetadataDirective REPLACE with the object's own type and metadata: S3 allows a copy onto
    # itself that changes only the encryption, SeaweedFS only one that "changes metadata".
    head = object_head(key, role)
    if head is None:
        return GONE
    if _encrypted_as_asked(head):
        return ALREADY
    if head["ContentLength"] > MAX_PUT_BYTES:  # beyond one CopyObject
        return _rewrite(key, role)
    storage = bucket_storage(role)
    storage.client.copy_object(
        Bucket=storage.bucket_name,
        Key=key,
        CopySource={"Bucket": storage.bucket_name, "Key": key},
        CopySourceIfMatch=head["ETag"],
        MetadataDirective="REPLACE",
        **_same_headers(head),
        **sse_parameters(),
    )
    return REWRITTEN


def _rewrite(key: str, role: str) -> str:
    storage = bucket_storage(role)
    answer = storage.client.get_object(Bucket=storage.bucket_name, Key=key)
    digest = hashlib.sha256()
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        body = answer["Body"]
        try:
            for chunk in body.iter_chunks(READ_CHUNK):
                digest.update(chunk)
                spool.write(chunk)
        finally:
            body.close()
        expected = (answer.get("Metadata") or {}).get("sha256")
        if expected and expected != digest.hexdigest():
            return CORRUPT
        size = spool.tell()
        spool.seek(0)
        if size > MAX_PUT_BYTES:
            return _rewrite_in_parts(key, role, answer, spool, size)
        storage.client.put_object(
            Bucket=storage.bucket_name,
            Key=key,
            Body=spool,
            ContentLength=size,
            IfMatch=answer["ETag"],
            ChecksumSHA256=base64.b64encode(digest.digest()).decode(),
            **_same_headers(answer),
            **sse_parameters(),
        )
    return REWRITTEN


def _rewrite_in_parts(key: str, role: str, answer: dict, spool, size: int) -> str:
    """An object larger than one PUT: a multipart upload, joined only if the object is
    still the one read (checked just before; a delete in between would be undone)."""
    headers = _same_headers(answer)
    with MultipartWriter(
        key=key,
        role=role,
        content_type=headers["ContentType"],
        metadata=headers["Metadata"],
        part_bytes=part_bytes_for(size),
        storage_class=headers.get("StorageClass"),
    ) as out:
        for chunk in iter(lambda: spool.read(READ_CHUNK), b""):
            out.write(chunk)
        head = object_head(key, role)
        if head is None or head["ETag"] != answer["ETag"]:
            out.abort()
            return GONE
    return REWRITTEN
