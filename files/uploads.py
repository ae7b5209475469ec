"""Request-body handling for uploads: hash and count as the bytes arrive, stop past the limit."""

from __future__ import annotations

import hashlib
import tempfile

from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# Room for the multipart boundaries and small form fields around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
SPOOL_IN_MEMORY_BYTES = 512 * 1024


class HashedUpload(UploadedFile):
    """An uploaded file whose SHA-256 and size were computed while it was received."""

    def __init__(self, file, *, name: str, content_type: str, size: int, sha256: str):
        super().__init__(file=file, name=name, content_type=content_type, size=size)
        self.sha256 = sha256

    @classmethod
    def from_chunks(cls, chunks, *, name: str, content_type: str = "") -> HashedUpload:
        """Spool an iterable of byte chunks (an S3 body, a local file) the same way."""
        digest = hashlib.sha256()
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        size = 0
        for chunk in chunks:
            digest.update(chunk)
            spool.write(chunk)
            size += len(chunk)
        spool.seek(0)
        return cls(spool, name=name, content_type=content_type, size=size, sha256=digest.hexdigest())


class HashingUploadHandler(FileUploadHandler):
    """Takes over the whole request body: one pass that hashes, counts and spools each chunk.

    The spool is a temporary file (small uploads stay in memory), so an upload never sits
    whole in memory, and the hash is known before anything is written to S3 — which is
    what lets a duplicate cost no S3 write at all.
    """

    chunk_size = 64 * 1024

    def __init__(self, request=None, *, max_bytes: int):
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False
        self.received = 0

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self._digest = hashlib.sha256()
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self.received += len(raw_data)
        if self.received > self.max_bytes:
            self.too_large = True
            self._spool.close()
            raise StopUpload(connection_reset=True)
        self._digest.update(raw_data)
        self._spool.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> HashedUpload:
        self._spool.seek(0)
        return HashedUpload(
            self._spool,
            name=self.file_name,
            content_type=self.content_type or "",
            size=file_size,
            sha256=self._digest.hexdigest(),
        )

    def upload_interrupted(self) -> None:
        spool = getattr(self, "_spool", None)
        if spool is not None:
            spool.close()


def declared_too_large(request, max_bytes: int) -> bool:
    """Refuse before reading a byte when the declared body cannot fit."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return declared > max_bytes + FORM_OVERHEAD_BYTES
