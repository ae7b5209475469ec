"""Direct-to-S3 uploads: the client posts the bytes to S3 under a staging key with a
presigned POST (size-limited by S3 itself), then asks us to complete, which verifies,
hashes and files them like any other upload.

Completing is serialised and idempotent: the session's row stays locked while its file is
created, and a call that finds the session completed answers with that file (200) instead
of making another. The presigned POST stays usable until it expires, so the staged object
may be replaced at any moment: the copy to the content address is conditional on the ETag
of the very GET that was hashed, and a replaced object is a 409 `upload_changed` with
nothing written (complete again to file the new bytes).

A refusal about the content or the tenant's limits (413, 415) ends the session: its staged
object is deleted at once. One about the request (a folder not found, 403) leaves the
session pending so that the client can complete again; the staged object goes with the
session's expiry (`upload_sessions_expire`) if it never is.

A multipart session (files.services.multipart) differs only in how the staged object comes
to be: complete first asks S3 which parts it holds, and joins exactly those (409
`parts_missing` while any is missing or of the wrong size); from there on it is the same.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from files import storage
from files.models import File, UploadSession, UploadState
from files.names import clean_name
from files.permissions import can_create
from files.selectors import file_get_for_actor
from files.services.blobs import StoreBytes
from files.services.files import file_upload
from files.services.quota import tenant_usage_bytes
from files.storage import multipart as s3_multipart
from files.uploads import HashedUpload
from mediaportal.exceptions import (
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    parse_id,
)

log = logging.getLogger(__name__)

UPLOAD_SESSION_TTL = timedelta(hours=1)
# Rows of completed or expired sessions are kept this long past their expiry, so that a late
# retry of a complete still gets its file (or a clear 409) rather than a 404.
SESSION_ROWS_KEPT = timedelta(days=7)


def upload_session_create(
    *, membership: Membership, filename: str, size: int, content_type: str = ""
) -> tuple[UploadSession, dict]:
    """Open a direct upload; returns the session and the presigned POST (`url`, `fields`)."""
    tenant = membership.tenant
    upload_start_check(membership=membership, size=size)
    session = UploadSession(
        tenant=tenant,
        created_by=membership.user,
        filename=clean_name(filename),
        size=size,
        content_type=content_type[:255],
        expires_at=timezone.now() + UPLOAD_SESSION_TTL,
    )
    session.staging_key = storage.staging_key(tenant.id, session.id)
    session.save()
    # The declared size is the ceiling S3 enforces; complete re-checks the real size.
    post = storage.presigned_post(
        key=session.staging_key, max_bytes=size, expires_in=int(UPLOAD_SESSION_TTL.total_seconds())
    )
    return session, post


def upload_start_check(*, membership: Membership, size: int) -> None:
    """What every direct upload is refused for before S3 is asked for anything: a viewer
    (403), an empty or too large file, a tenant whose quota it would overfill (413)."""
    tenant = membership.tenant
    if not can_create(membership=membership):
        raise Forbidden("Viewers cannot upload files.")
    if size <= 0:
        raise ValidationFailed("size must be positive.", code="empty_file")
    if size > tenant.max_upload_bytes:
        raise PayloadTooLarge(f"Files are limited to {tenant.max_upload_bytes} bytes in this tenant.")
    if tenant_usage_bytes(tenant=tenant) + size > tenant.quota_bytes:
        raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")


def upload_session_get(*, membership: Membership, upload_id) -> UploadSession:
    session = UploadSession.objects.filter(
        tenant_id=membership.tenant_id, pk=parse_id(upload_id, "Upload"), created_by=membership.user
    ).first()
    if session is None:
        raise NotFound("Upload not found.")
    return session


def upload_session_complete(
    *, membership: Membership, upload_id, folder_id=None, description: str = "", tags=None, ip: str | None = None
) -> tuple[File, bool]:
    """Verify the staged object, hash it by streaming, and create the file (deduplicated);
    returns the file and whether this call created it (False: it was completed before)."""
    session = upload_session_get(membership=membership, upload_id=upload_id)
    if session.state == UploadState.COMPLETED:
        return _completed_file(membership=membership, session=session), False
    session_check_open(session)
    if session.is_multipart and not session.parts_assembled:
        session = _assemble(session)
        if session.state == UploadState.COMPLETED:
            return _completed_file(membership=membership, session=session), False
    staged, upload = _staged_upload(session)
    copy_staged = _copier(session=session, staged=staged, upload=upload)
    try:
        with transaction.atomic():
            # Held until the file exists: a second call waits here, then answers with it.
            session = UploadSession.objects.select_for_update().get(pk=session.pk)
            if session.state == UploadState.COMPLETED:
                return _completed_file(membership=membership, session=session), False
            session_check_open(session)
            file = file_upload(
                membership=membership,
                upload=upload,
                folder_id=folder_id or session.folder_id,
                description=description,
                tags=tags,
                ip=ip,
                store=copy_staged,
                relative_path=session.relative_path,
            )
            UploadSession.objects.filter(pk=session.pk).update(state=UploadState.COMPLETED, file=file)
            transaction.on_commit(lambda: _delete_staged(session), robust=True)
    except (PayloadTooLarge, UnsupportedMediaType):
        # These bytes can never be filed (too large, over quota, a refused type): end the session.
        _end_session(session)
        raise
    return file, True


def _assemble(session: UploadSession) -> UploadSession:
    """Join the parts S3 holds into the staged object, once: the session's row is locked
    meanwhile, so a second complete waits and then finds the parts joined. Checked against
    S3's own list, not what the client believes it sent: every part there, each its size."""
    with transaction.atomic():
        session = UploadSession.objects.select_for_update().get(pk=session.pk)
        if session.parts_assembled or session.state != UploadState.PENDING:
            return session
        session_check_open(session)
        held = s3_multipart.parts_held(key=session.staging_key, upload_id=session.multipart_id)
        if held is None:
            _check_joined_before(session)
        else:
            _join(session, held)
        UploadSession.objects.filter(pk=session.pk).update(parts_assembled=True)
        session.parts_assembled = True
    return session


def _check_joined_before(session: UploadSession) -> None:
    """S3 has no such upload: joined by an earlier complete whose commit was lost (S3
    answered, then we failed), so the object is there; or aborted."""
    staged = storage.object_head(session.staging_key)
    if staged is None or staged["ContentLength"] != session.size:
        raise Conflict("S3 no longer holds this upload; start a new one.", code="upload_expired")


def _join(session: UploadSession, held: dict[int, dict]) -> None:
    numbers = range(1, session.part_count + 1)
    missing = [number for number in numbers if held.get(number, {}).get("size") != session.part_bytes(number)]
    if missing:
        raise Conflict(
            f"{len(missing)} of {session.part_count} parts are missing or incomplete; send them, then complete.",
            code="parts_missing",
            extra={"missing": missing},
        )
    try:
        s3_multipart.complete(
            key=session.staging_key,
            upload_id=session.multipart_id,
            etags={number: held[number]["etag"] for number in numbers},
        )
    except storage.ObjectChanged:
        raise Conflict(
            "A part was sent again while the upload was completed; complete it again.", code="upload_changed"
        ) from None


def _staged_upload(session: UploadSession) -> tuple[storage.OpenedObject, HashedUpload]:
    """The staged object, checked against the declared size and hashed by streaming it once
    (the spool keeps memory flat for big files)."""
    staged = storage.object_open(session.staging_key)
    if staged is None:
        raise ValidationFailed("Nothing was uploaded for this upload yet.", code="upload_missing")
    if staged.size != session.size:
        # S3 enforced the declared size as a ceiling; fewer bytes is a truncated upload.
        staged.close()
        raise ValidationFailed(
            f"The uploaded object has {staged.size} bytes, not the {session.size} declared.", code="size_mismatch"
        )
    return staged, HashedUpload.from_chunks(staged.chunks, name=session.filename, content_type=session.content_type)


def _copier(*, session: UploadSession, staged: storage.OpenedObject, upload: HashedUpload) -> StoreBytes:
    """How the upload's bytes reach their blob key: a server-side copy of the staged object."""

    def copy_staged(*, key: str, content_type: str) -> None:
        # Only if the staged object is still the one just hashed: a POST since then would put
        # bytes at this content address that are not its content.
        try:
            storage.object_copy(
                source_key=session.staging_key,
                key=key,
                sha256=upload.sha256,
                content_type=content_type,
                tenant_id=session.tenant_id,
                if_match=staged.etag,
            )
        except storage.ObjectChanged:
            raise Conflict(
                "The uploaded object changed while it was being verified; complete the upload again.",
                code="upload_changed",
            ) from None

    return copy_staged


def session_check_open(session: UploadSession) -> None:
    if session.state == UploadState.EXPIRED or session.expires_at <= timezone.now():
        raise Conflict("This upload has expired; start a new one.", code="upload_expired")


def _completed_file(*, membership: Membership, session: UploadSession) -> File:
    """The file a completed session made, for a repeated complete (a retry after a lost answer)."""
    try:
        if session.file_id is None:
            raise NotFound()
        return file_get_for_actor(membership=membership, file_id=session.file_id)
    except NotFound:
        raise Conflict(
            "This upload was completed; its file has since been deleted.", code="already_completed"
        ) from None


def _delete_staged(session: UploadSession) -> None:
    try:
        storage.object_delete(session.staging_key)
    except storage.StorageUnavailable:
        # The session is not pending any more, so the orphan sweep takes the object.
        log.warning("staged upload %s left for the orphan sweep: storage unavailable", session.pk)


def _end_session(session: UploadSession) -> None:
    UploadSession.objects.filter(pk=session.pk, state=UploadState.PENDING).update(state=UploadState.EXPIRED)
    _delete_staged(session)


def staged_bytes_delete(session: UploadSession) -> None:
    """Delete what S3 holds for a session that will not complete: its multipart upload with
    the parts, and the staged object (a POST's, or the joined parts')."""
    if session.is_multipart:
        s3_multipart.abort(key=session.staging_key, upload_id=session.multipart_id)
    storage.object_delete(session.staging_key)


def upload_sessions_expire(*, now=None) -> int:
    """Remove staged objects and multipart uploads of sessions never completed (the periodic
    cleanup), then S3 multipart uploads no pending session knows of, and finally the rows of
    sessions long over."""
    now = now or timezone.now()
    expired = 0
    for session in UploadSession.objects.filter(state=UploadState.PENDING, expires_at__lte=now).iterator():
        try:
            staged_bytes_delete(session)
        except storage.StorageUnavailable:
            log.warning("could not delete staged upload %s; will retry", session.pk)
            continue
        UploadSession.objects.filter(pk=session.pk, state=UploadState.PENDING).update(state=UploadState.EXPIRED)
        expired += 1
    _multipart_strays_abort(now=now)
    UploadSession.objects.filter(expires_at__lte=now - SESSION_ROWS_KEPT).exclude(state=UploadState.PENDING).delete()
    return expired


def _multipart_strays_abort(*, now) -> None:
    """Abort multipart uploads that S3 holds for no pending session: a start whose session
    row was never written (the process died between S3's answer and the insert), or a row
    deleted with its tenant. Only past the longest session's life, so a start in progress is
    never taken for one."""
    cutoff = now - timedelta(hours=settings.UPLOAD_MULTIPART_HOURS) - UPLOAD_SESSION_TTL
    pending = set(
        UploadSession.objects.filter(state=UploadState.PENDING, expires_at__gt=now)
        .exclude(multipart_id="")
        .values_list("multipart_id", flat=True)
    )
    try:
        for upload in s3_multipart.uploads(storage.TENANTS_PREFIX):
            if upload["Initiated"] <= cutoff and upload["UploadId"] not in pending:
                s3_multipart.abort(key=upload["Key"], upload_id=upload["UploadId"])
    except storage.StorageUnavailable:
        log.warning("could not list or abort stray multipart uploads; will retry")
