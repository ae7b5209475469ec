"""Resumable direct uploads: the browser PUTs the file's parts straight to S3 (an S3
multipart upload on the primary bucket), in parallel and in any order, and may stop and
come back (a page reload, a lost connection) to send only the parts S3 does not hold yet.

The server chooses the part size, asks S3 to start the upload, signs a URL per part (each
for that part's exact length), and tells what S3 holds by asking S3 (ListParts), never by
trusting what a client says it sent. Completing is the direct upload's complete
(files.services.direct), which joins the parts first: so the same checks, hashing,
deduplication and idempotency hold for both. An abandoned session is aborted by the same
sweep as the presigned-POST ones (`upload_sessions_expire`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from files import storage
from files.models import UploadSession, UploadState
from files.names import clean_name
from files.selectors import folder_get
from files.services.direct import session_check_open, staged_bytes_delete, upload_session_get, upload_start_check
from files.services.folders import relative_path_names
from files.storage import multipart as s3_multipart
from mediaportal.exceptions import Conflict, NotFound, ValidationFailed

MIB = 1024**2
# S3's limits: at most 10,000 parts, each but the last at least 5 MiB.
MAX_PARTS = 10_000
# Part URLs live this long (less when the session ends sooner); clients ask for more as they go.
PART_URL_SECONDS = 3600
# Part URLs one request may ask for.
MAX_PARTS_PER_REQUEST = 1000


def part_size_for(size: int) -> int:
    """The smallest part size (whole MiB, at least UPLOAD_MULTIPART_PART_BYTES) that needs no
    more than S3's 10,000 parts: small parts keep a resume's loss small."""
    smallest = settings.UPLOAD_MULTIPART_PART_BYTES
    needed = -(-size // MAX_PARTS)
    return max(smallest, -(-needed // MIB) * MIB)


def multipart_session_create(
    *,
    membership: Membership,
    filename: str,
    size: int,
    content_type: str = "",
    folder_id=None,
    relative_path: str = "",
) -> UploadSession:
    """Start a resumable upload: every refusal (403, 413, a folder not found, a bad path)
    comes before S3 is asked for anything."""
    upload_start_check(membership=membership, size=size)
    folder = folder_get(membership=membership, folder_id=folder_id) if folder_id else None
    names = relative_path_names(relative_path)
    session = UploadSession(
        tenant=membership.tenant,
        created_by=membership.user,
        filename=clean_name(filename),
        size=size,
        content_type=content_type[:255],
        folder=folder,
        relative_path="/".join(names),
        part_size=part_size_for(size),
        expires_at=timezone.now() + timedelta(hours=settings.UPLOAD_MULTIPART_HOURS),
    )
    session.staging_key = storage.staging_key(membership.tenant_id, session.id)
    # S3 first: a row is only written for an upload S3 has (one S3 started for a row that
    # then failed to insert is aborted by the sweep's listing of stray uploads).
    session.multipart_id = s3_multipart.create(key=session.staging_key, content_type=session.content_type)
    session.save()
    return session


def multipart_get(*, membership: Membership, upload_id) -> UploadSession:
    session = upload_session_get(membership=membership, upload_id=upload_id)
    if not session.is_multipart:
        raise NotFound("Multipart upload not found.")
    return session


@dataclass
class Progress:
    """A multipart session and the parts S3 holds for it ({number: size})."""

    session: UploadSession
    parts: dict[int, int]

    @property
    def missing(self) -> list[int]:
        return [
            number
            for number in range(1, self.session.part_count + 1)
            if self.parts.get(number) != self.session.part_bytes(number)
        ]


def multipart_progress(*, membership: Membership, upload_id) -> Progress:
    """The session and the parts S3 holds (none once joined or over): what a client resumes from."""
    session = multipart_get(membership=membership, upload_id=upload_id)
    if session.state != UploadState.PENDING or session.parts_assembled:
        return Progress(session=session, parts={})
    held = s3_multipart.parts_held(key=session.staging_key, upload_id=session.multipart_id) or {}
    return Progress(session=session, parts={number: part["size"] for number, part in held.items()})


def multipart_part_urls(*, membership: Membership, upload_id, numbers: list[int]) -> list[dict]:
    """Presigned UploadPart URLs of the parts `numbers` ([{"number", "size", "url"}])."""
    session = multipart_get(membership=membership, upload_id=upload_id)
    if session.state == UploadState.COMPLETED or session.parts_assembled:
        raise Conflict("This upload is complete; its parts cannot be sent again.", code="already_completed")
    session_check_open(session)
    numbers = sorted(set(numbers))
    if not numbers or len(numbers) > MAX_PARTS_PER_REQUEST:
        raise ValidationFailed(f"Ask for 1 to {MAX_PARTS_PER_REQUEST} parts at a time.", code="invalid")
    if numbers[0] < 1 or numbers[-1] > session.part_count:
        raise ValidationFailed(f"Part numbers run from 1 to {session.part_count}.", code="invalid_part")
    seconds = min(PART_URL_SECONDS, int((session.expires_at - timezone.now()).total_seconds()))
    return [
        {
            "number": number,
            "size": session.part_bytes(number),
            "url": s3_multipart.part_url(
                key=session.staging_key,
                upload_id=session.multipart_id,
                number=number,
                size=session.part_bytes(number),
                expires_in=max(seconds, 1),
            ),
        }
        for number in numbers
    ]


def multipart_session_abort(*, membership: Membership, upload_id) -> None:
    """Give the upload up: S3 drops its parts, the session ends (again: nothing to do);
    409 `already_completed` once it made its file."""
    session = multipart_get(membership=membership, upload_id=upload_id)
    with transaction.atomic():
        # Waits for a complete in progress (it holds the row), then sees what it did.
        session = UploadSession.objects.select_for_update().get(pk=session.pk)
        if session.state == UploadState.COMPLETED:
            raise Conflict("This upload is complete; delete its file instead.", code="already_completed")
        UploadSession.objects.filter(pk=session.pk).update(state=UploadState.EXPIRED)
        staged_bytes_delete(session)
