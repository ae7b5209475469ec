"""S3 multipart uploads that browsers send straight to the primary bucket, part by part
(files.services.multipart): create, sign a part, list what S3 holds, join, abort."""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from files.storage import ObjectChanged, _is_missing, bucket_storage, sse_parameters, storage_errors

# What S3 answers a CompleteMultipartUpload whose parts are not the ones listed (a part sent
# again since the listing, or one too small): the caller lists again and retries.
PARTS_CHANGED = {"InvalidPart", "InvalidPartOrder", "EntityTooSmall"}


def create(*, key: str, content_type: str) -> str:
    """Start a multipart upload of `key`; returns S3's UploadId."""
    storage = bucket_storage()
    with storage_errors("create multipart"):
        answer = storage.client.create_multipart_upload(
            Bucket=storage.bucket_name,
            Key=key,
            ContentType=content_type or "application/octet-stream",
            **sse_parameters(),
        )
    return answer["UploadId"]


def part_url(*, key: str, upload_id: str, number: int, size: int, expires_in: int) -> str:
    """A presigned UploadPart URL for browsers. The part's length is signed with it, so S3
    refuses a body of any other size."""
    storage = bucket_storage()
    return storage.public_client.generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": storage.bucket_name,
            "Key": key,
            "UploadId": upload_id,
            "PartNumber": number,
            "ContentLength": size,
        },
        ExpiresIn=expires_in,
    )


def parts_held(*, key: str, upload_id: str) -> dict[int, dict] | None:
    """The parts S3 holds ({number: {"size", "etag"}}); None when the upload is gone."""
    storage = bucket_storage()
    parts: dict[int, dict] = {}
    try:
        with storage_errors("list parts"):
            paginator = storage.client.get_paginator("list_parts")
            for page in paginator.paginate(Bucket=storage.bucket_name, Key=key, UploadId=upload_id):
                for part in page.get("Parts", []):
                    parts[part["PartNumber"]] = {"size": part["Size"], "etag": part["ETag"]}
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    return parts


def complete(*, key: str, upload_id: str, etags: dict[int, str]) -> None:
    """Join the parts into the object; `ObjectChanged` when S3 holds other parts than these."""
    storage = bucket_storage()
    parts = [{"PartNumber": number, "ETag": etags[number]} for number in sorted(etags)]
    with storage_errors("complete multipart"):
        try:
            storage.client.complete_multipart_upload(
                Bucket=storage.bucket_name, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in PARTS_CHANGED or _is_missing(exc):
                raise ObjectChanged(key) from exc
            raise


def abort(*, key: str, upload_id: str) -> None:
    """Drop the upload and its parts (nothing to do when it is gone already)."""
    storage = bucket_storage()
    try:
        with storage_errors("abort multipart"):
            storage.client.abort_multipart_upload(Bucket=storage.bucket_name, Key=key, UploadId=upload_id)
    except ClientError as exc:
        if not _is_missing(exc):
            raise


def uploads(prefix: str) -> Iterator[dict]:
    """The multipart uploads in progress under `prefix` (Key, UploadId, Initiated)."""
    storage = bucket_storage()
    with storage_errors("list multipart"):
        paginator = storage.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=storage.bucket_name, Prefix=prefix):
            yield from page.get("Uploads", [])
