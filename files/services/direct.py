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
"""

from __future__ import annotations

import logging
from datetime import timedelta

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


def upload_session_create(
    *, membership: Membership, filename: str, size: int, content_type: str = ""
) -> tuple[UploadSession, dict]:
    """Open a direct upload; returns the session and the presigned POST (`url`, `fields`)."""
    tenant = membership.tenant
    if not can_create(membership=membership):
        raise Forbidden("Viewers cannot upload files.")
    if size <= 0:
        raise ValidationFailed("size must be positive.", code="empty_file")
    if size > tenant.max_upload_bytes:
        raise PayloadTooLarge(f"Files are limited to {tenant.max_upload_bytes} bytes in this tenant.")
    if tenant_usage_bytes(tenant=tenant) + size > tenant.quota_bytes:
        raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")
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
    _check_open(session)
    staged, upload = _staged_upload(session)
    copy_staged = _copier(session=session, staged=staged, upload=upload)
    try:
        with transaction.atomic():
            # Held until the file exists: a second call waits here, then answers with it.
            session = UploadSession.objects.select_for_update().get(pk=session.pk)
            if session.state == UploadState.COMPLETED:
                return _completed_file(membership=membership, session=session), False
            _check_open(session)
            file = file_upload(
                membership=membership,
                upload=upload,
                folder_id=folder_id,
                description=description,
                tags=tags,
                ip=ip,
                store=copy_staged,
            )
            UploadSession.objects.filter(pk=session.pk).update(state=UploadState.COMPLETED, file=file)
            transaction.on_commit(lambda: _delete_staged(session), robust=True)
    except (PayloadTooLarge, UnsupportedMediaType):
        # These bytes can never be filed (too large, over quota, a refused type): end the session.
        _end_session(session)
        raise
    return file, True


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
                if_match=staged.etag,
            )
        except storage.ObjectChanged:
            raise Conflict(
                "The uploaded object changed while it was being verified; complete the upload again.",
                code="upload_changed",
            ) from None

    return copy_staged


def _check_open(session: UploadSession) -> None:
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


def upload_sessions_expire(*, now=None) -> int:
    """Remove staged objects of uploads never completed (the periodic cleanup)."""
    now = now or timezone.now()
    expired = 0
    for session in UploadSession.objects.filter(state=UploadState.PENDING, expires_at__lte=now).iterator():
        try:
            storage.object_delete(session.staging_key)
        except storage.StorageUnavailable:
            log.warning("could not delete staged upload %s; will retry", session.pk)
            continue
        UploadSession.objects.filter(pk=session.pk, state=UploadState.PENDING).update(state=UploadState.EXPIRED)
        expired += 1
    return expired
