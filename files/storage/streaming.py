"""Writing an object of unknown size as it is produced: a file opened for writing whose
bytes go to S3 as a multipart upload, one part at a time (a tenant export's ZIP, the
rewrite of an object too large for one PUT). Memory holds one part at most."""

from __future__ import annotations

import math

from botocore.exceptions import ClientError

from files.storage import _is_missing, bucket_storage, sse_parameters, storage_errors

MIN_PART_BYTES = 8 * 1024 * 1024
# S3 allows 10,000 parts; the writer sizes its parts so the expected total fits in fewer,
# leaving room for an estimate that falls short.
MAX_PARTS = 10_000
PLANNED_PARTS = 9_000


def part_bytes_for(expected_bytes: int) -> int:
    """The part size for an object of about `expected_bytes`: 8 MiB, or larger (whole MiB)
    when 9,000 parts of 8 MiB would not hold it."""
    needed = math.ceil(max(expected_bytes, 0) / PLANNED_PARTS)
    return max(MIN_PART_BYTES, math.ceil(needed / 2**20) * 2**20)


class MultipartWriter:
    """`write()` bytes, then `close()` to join the parts into the object; `abort()` (or an
    exception inside `with`) drops the upload and its parts, and nothing is stored.

    Not seekable: zipfile writes through it with data descriptors. The object asks for
    server-side encryption when S3_SSE is set, like every write.
    """

    def __init__(
        self,
        *,
        key: str,
        content_type: str,
        metadata: dict[str, str],
        role: str = "primary",
        part_bytes: int = MIN_PART_BYTES,
        storage_class: str | None = None,
    ) -> None:
        self.key, self.part_bytes = key, part_bytes
        self._storage = bucket_storage(role)
        self._buffer = bytearray()
        self._parts: list[dict] = []
        self._written = 0
        params = {"ContentType": content_type, "Metadata": metadata, **sse_parameters()}
        if storage_class:
            params["StorageClass"] = storage_class
        with storage_errors("create multipart"):
            answer = self._storage.client.create_multipart_upload(Bucket=self._storage.bucket_name, Key=key, **params)
        self.upload_id = answer["UploadId"]
        self.closed = False

    # What zipfile asks of a stream it writes to.

    def write(self, data) -> int:
        self._buffer += data
        self._written += len(data)
        if len(self._buffer) >= self.part_bytes:
            # The whole buffer is the part (parts need not be of one size): no copy of it.
            body, self._buffer = self._buffer, bytearray()
            self._send(body)
        return len(data)

    def tell(self) -> int:
        return self._written

    def flush(self) -> None:
        pass

    @property
    def size(self) -> int:
        return self._written

    def _send(self, body: bytes | bytearray) -> None:
        number = len(self._parts) + 1
        if number > MAX_PARTS:
            raise ValueError(f"{self.key}: more than {MAX_PARTS} parts of {self.part_bytes} bytes")
        with storage_errors("upload part"):
            answer = self._storage.client.upload_part(
                Bucket=self._storage.bucket_name, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=body
            )
        self._parts.append({"PartNumber": number, "ETag": answer["ETag"]})

    def close(self) -> None:
        """Send the last part and join them all: the object exists from here on."""
        if self.closed:
            return
        # The last part may be short; an empty object still needs one (empty) part.
        if self._buffer or not self._parts:
            body, self._buffer = self._buffer, bytearray()
            self._send(body)
        with storage_errors("complete multipart"):
            self._storage.client.complete_multipart_upload(
                Bucket=self._storage.bucket_name,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self.closed = True

    def abort(self) -> None:
        """Drop the upload and the parts S3 holds (best effort: the stray-upload sweep of
        files.services.direct aborts what this could not)."""
        if self.closed:
            return
        self.closed = True
        self._buffer.clear()
        try:
            with storage_errors("abort multipart"):
                self._storage.client.abort_multipart_upload(
                    Bucket=self._storage.bucket_name, Key=self.key, UploadId=self.upload_id
                )
        except ClientError as exc:
            if not _is_missing(exc):
                raise

    def __enter__(self) -> MultipartWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            try:
                self.abort()
            except Exception:  # noqa: BLE001 - the error that got us here is the one to raise
                pass
