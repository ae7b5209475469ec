"""Direct-to-S3 uploads: the client posts the bytes to S3 under a staging key with a
presigned POST (size-limited by S3 itself), then asks us to complete, which verifies,
hashes and files them like any other upload."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from files import storage
from files.models import File, UploadSession, UploadState
from files.names import clean_name
from files.processing.sniff import sniff
from files.services.blobs import tenant_usage_bytes
from files.services.files import file_upload
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
from sharing.selectors import can_create

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
) -> File:
    """Verify the staged object, hash it by streaming, and create the file (deduplicated)."""
    session = upload_session_get(membership=membership, upload_id=upload_id)
    with transaction.atomic():
        session = UploadSession.objects.select_for_update().get(pk=session.pk)
        if session.state == UploadState.COMPLETED:
            raise Conflict("This upload was already completed.", code="already_completed")
        if session.state == UploadState.EXPIRED or session.expires_at <= timezone.now():
            raise Conflict("This upload has expired; start a new one.", code="upload_expired")
    head = storage.object_head(session.staging_key)
    if head is None:
        raise ValidationFailed("Nothing was uploaded for this upload yet.", code="upload_missing")
    if head["ContentLength"] > min(session.size, membership.tenant.max_upload_bytes):
        storage.object_delete(session.staging_key)
        raise PayloadTooLarge("The uploaded object is larger than declared.")
    # Hash the object by streaming it once; the spool keeps memory flat for big files.
    upload = HashedUpload.from_chunks(
        storage.object_chunks(session.staging_key), name=session.filename, content_type=session.content_type
    )
    try:
        sniff(upload.file, upload.name)
    except UnsupportedMediaType:
        storage.object_delete(session.staging_key)
        UploadSession.objects.filter(pk=session.pk).update(state=UploadState.EXPIRED)
        raise

    def copy_staged(*, key: str, content_type: str) -> None:
        # Server-side to the content address rather than sending the bytes again; called by
        # file_upload only for new content, after its checks, under the content lock.
        storage.object_copy(source_key=session.staging_key, key=key, sha256=upload.sha256, content_type=content_type)

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
    storage.object_delete(session.staging_key)
    return file


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
