"""Uploads made once: a retry with the same `Idempotency-Key` gets the first upload's result.

A client that lost the answer to an upload (a timeout, a dropped connection, a 503 it
retries) sends the same request again with the same key. Within UPLOAD_IDEMPOTENCY_HOURS
the same user in the same tenant then gets the file (or version) the first attempt made,
instead of a second file named "name (1).ext". The same key with another request (other
bytes, another folder or fields) is a 422 `idempotency_key_reused`.

The key is claimed inside the upload's transaction, right after its content lock and
before any row lock (files.services.locks), by an insert on the key's unique constraint:
- a retry of a committed upload finds its row, and answers with its file;
- a retry while the first attempt is still under way waits on that insert: for the same
  bytes already on the content lock, for other bytes on the constraint; it then finds the
  committed row, or, when the first attempt failed (a 503), takes the key and uploads;
- a failed upload rolls its key back with everything else, so a retry is never answered
  with an upload that did not happen.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.models import Membership
from files.models import File, FileVersion, UploadKey
from mediaportal.exceptions import ApplicationError, ValidationFailed

# Visible ASCII, as long as the column holds: enough for a UUID, a hash or a client's own scheme.
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


class KeyReused(ApplicationError):
    status_code = 422
    default_code = "idempotency_key_reused"
    default_detail = "This Idempotency-Key was used for a different upload; send a new key for a new upload."


@dataclass
class UploadOnce:
    """One upload's `Idempotency-Key`. After the upload service returns, `replayed` says
    whether it answered with an earlier upload's result instead of storing anything."""

    key: str
    replayed: bool = False
    row_id: int | None = None

    @classmethod
    def from_header(cls, value: str | None) -> UploadOnce | None:
        """The key a request sent (None without one); 400 `invalid_idempotency_key` when malformed."""
        if value is None:
            return None
        if not KEY_PATTERN.fullmatch(value):
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 255 visible ASCII characters.", code="invalid_idempotency_key"
            )
        return cls(key=value)

    def part(self, index: int) -> UploadOnce:
        """The key of the `index`th file of a request that sends several under one key."""
        return UploadOnce(key=self.key if index == 0 else f"{self.key}#{index}"[:255])


def upload_fingerprint(**request) -> str:
    """What an upload asked for, as a SHA-256: the same key must come with the same one."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


# Takes the key, or an expired row of it; returns no row when a live one holds the key. The
# insert waits for an uncommitted one of the same key to commit or roll back.
_CLAIM = """
INSERT INTO files_uploadkey (tenant_id, user_id, key, fingerprint, created_at)
VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (tenant_id, user_id, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, created_at = EXCLUDED.created_at, file_id = NULL, version_id = NULL
    WHERE files_uploadkey.created_at < %s
RETURNING id
"""


def _window() -> timedelta:
    return timedelta(hours=settings.UPLOAD_IDEMPOTENCY_HOURS)


def once_claim(*, once: UploadOnce, membership: Membership, fingerprint: str) -> UploadKey | None:
    """Take the key for this upload (None), or return the row of the earlier upload that
    holds it (`once.replayed` is then set); 422 when that one asked for something else.
    Call inside the upload's transaction, right after its content lock."""
    now = timezone.now()
    params = [membership.tenant_id, membership.user_id, once.key, fingerprint, now, now - _window()]
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM, params)
        taken = cursor.fetchone()
    if taken is not None:
        once.row_id = taken[0]
        return None
    earlier = UploadKey.objects.get(tenant_id=membership.tenant_id, user_id=membership.user_id, key=once.key)
    if earlier.fingerprint != fingerprint:
        raise KeyReused()
    once.replayed = True
    return earlier


def once_record(*, once: UploadOnce, file: File, version: FileVersion | None = None) -> None:
    """Remember what the upload made, in its transaction."""
    UploadKey.objects.filter(pk=once.row_id).update(file=file, version=version)


def upload_keys_expire(*, now=None) -> int:
    """Delete the keys older than UPLOAD_IDEMPOTENCY_HOURS; returns how many."""
    cutoff = (now or timezone.now()) - _window()
    deleted, _ = UploadKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
