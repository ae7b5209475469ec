"""Retrieval: bringing archived bytes back to the primary bucket (files.services.lifecycle
moved them out).

A retrieval marks the blob `retrieving` (under its content lock and row lock), then copies
the archive object back to the primary and marks it `hot` again (`archived_at` null), each
file on it touched and given a `file.retrieved` event; the archive copy is deleted after that
commit, under the content lock. The copy is made in the request when the store can answer at
once (the archive bucket on the primary's S3 service, and readable now: SeaweedFS always;
ARCHIVE_RETRIEVE_INLINE), else by the `files.retrieve_blob` task, which asks Glacier for a
restore and polls every ARCHIVE_RESTORE_POLL_SECONDS until it is done.

Safe to run twice and beside a purge (a row gone stops it, and what it copied for the row
goes) or a sweep (which archives only hot blobs, and finds the files just touched).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Membership
from accounts.services.audit import event_record, event_record_many
from files import storage
from files.models import Blob, BlobTier, File, FileVersion
from files.selectors import file_get_for_actor, file_list, folder_get, version_get
from files.services.file_events import files_event_publish
from files.services.lifecycle import archive_copy_drop
from files.services.locks import content_lock
from files.storage.transfer import (
    ObjectCorrupt,
    ObjectMissing,
    archive_restore_request,
    object_transfer,
    same_service,
)
from mediaportal.exceptions import NotFound

log = logging.getLogger(__name__)

# What `blob_retrieve` found: back in the primary, still waiting for the archive, purged
# meanwhile, or not asked for (archived again, or its archive copy lost: logged).
HOT, WAITING, GONE, NOT_RETRIEVING = "hot", "waiting", "gone", "not retrieving"


def file_retrieve(*, membership: Membership, file_id, version: int | None = None, ip: str | None = None) -> bool:
    """Bring the file's bytes (its current version's, or `version`'s) back from the archive;
    anyone who may download the file may. False when they are hot already (nothing to do)."""
    file = file_get_for_actor(membership=membership, file_id=file_id, renditions=False)
    if version is not None:
        blob = version_get(file=file, number=version).blob
    elif file.current_version is not None:
        blob = file.current_version.blob
    else:
        raise NotFound("File not found.")
    if blob.tier == BlobTier.HOT:
        return False
    # Who asked is recorded here; `file.retrieved`, written when the bytes are back (maybe
    # hours later, by a task), is the system's.
    event_record(
        verb="file.retrieval_requested",
        tenant=membership.tenant,
        actor=membership.user,
        target=file,
        ip=ip,
        data={"version": version} if version else {},
    )
    _retrieve_start(blob_id=blob.pk, inline=settings.ARCHIVE_RETRIEVE_INLINE)
    return True


def folder_retrieve(*, membership: Membership, folder_id, versions: bool = False, ip: str | None = None) -> int:
    """Bring back the bytes of every file in the folder's subtree that the member sees and
    that is archived or being retrieved (current versions; with `versions`, older ones too);
    returns how many files. Through the task, one per blob: a folder may hold thousands."""
    folder = folder_get(membership=membership, folder_id=folder_id)
    visible = file_list(membership=membership, filters={"folder": str(folder.pk), "subtree": "true"})
    cold = [BlobTier.ARCHIVE, BlobTier.RETRIEVING]
    if versions:
        pairs = FileVersion.objects.filter(file__in=visible.values("pk"), blob__tier__in=cold)
        pairs = pairs.values_list("file_id", "blob_id")
    else:
        pairs = visible.filter(current_version__blob__tier__in=cold).values_list("pk", "current_version__blob_id")
    file_ids, blob_ids = set(), set()
    for file_id, blob_id in pairs:
        file_ids.add(file_id)
        blob_ids.add(blob_id)
    if blob_ids:
        event_record(
            verb="folder.retrieval_requested",
            tenant=membership.tenant,
            actor=membership.user,
            target=folder,
            ip=ip,
            data={"files": len(file_ids), "versions": versions},
        )
    for blob_id in sorted(blob_ids):
        _retrieve_start(blob_id=blob_id, inline=False)
    return len(file_ids)


def _retrieve_start(*, blob_id: int, inline: bool) -> None:
    """Mark the blob retrieving and set the copy off: here when the store answers at once,
    else by the task. A blob already retrieving is left to the retrieval under way."""
    if not _mark_retrieving(blob_id):
        return
    if inline and same_service("archive", "primary"):
        try:
            if blob_retrieve(blob_id=blob_id) != WAITING:
                return
        except storage.StorageUnavailable:
            log.warning("retrieval of blob %s: storage unavailable; left to the task", blob_id)
    transaction.on_commit(lambda: _queue(blob_id), robust=True)


def _queue(blob_id: int) -> None:
    try:
        current_app.send_task("files.retrieve_blob", args=[blob_id])
    except KombuOperationalError as exc:
        # The blob stays `retrieving`; the archive sweep queues retrievals that stay so too long.
        log.warning("could not queue the retrieval of blob %s (%s)", blob_id, exc)


def _mark_retrieving(blob_id: int) -> bool:
    """archive → retrieving, under the content lock and the row lock; False when the blob is
    hot, retrieving already, or gone."""
    blob = Blob.objects.filter(pk=blob_id).only("tenant_id", "sha256").first()
    if blob is None:
        return False
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        row = Blob.objects.select_for_update().filter(pk=blob_id, tier=BlobTier.ARCHIVE).first()
        if row is None:
            return False
        Blob.objects.filter(pk=blob_id).update(tier=BlobTier.RETRIEVING, retrieval_started_at=timezone.now())
    return True


def blob_retrieve(*, blob_id: int) -> str:
    """Copy a retrieving blob's archive object back to the primary once it can be read, and
    make the blob hot; returns HOT, WAITING (the archive's restore is not done: ask again
    later), GONE or NOT_RETRIEVING. StorageUnavailable when a service is down."""
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None:
        return GONE
    if blob.tier != BlobTier.RETRIEVING:
        return HOT if blob.tier == BlobTier.HOT else NOT_RETRIEVING
    # Archived within the grace, the primary object is still there (nothing deletes it while
    # the blob is retrieving): no restore, no copy.
    if storage.object_head(blob.storage_key, "primary") is None:
        try:
            if not archive_restore_request(
                blob.storage_key, days=settings.S3_ARCHIVE_RESTORE_DAYS, tier=settings.S3_ARCHIVE_RESTORE_TIER
            ):
                return WAITING
            object_transfer(
                key=blob.storage_key,
                source="archive",
                target="primary",
                sha256=blob.sha256,
                content_type=blob.content_type,
                tenant_id=blob.tenant_id,
            )
        except storage.ObjectArchived:
            return WAITING  # the restore is not visible to the copy yet
        except (ObjectMissing, storage.ObjectChanged, ObjectCorrupt) as exc:
            return _no_archive_copy(blob, why=type(exc).__name__)
    return _retrieve_finish(blob)


def _retrieve_finish(blob: Blob) -> str:
    """The bytes are in the primary again: the blob is hot, its files touched."""
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        row = Blob.objects.select_for_update().filter(pk=blob.pk).first()
        if row is None:
            # Purged while we copied: what we copied is nobody's (the lock lets us say so).
            _drop_objects(blob)
            return GONE
        if row.tier != BlobTier.RETRIEVING:
            return HOT if row.tier == BlobTier.HOT else NOT_RETRIEVING
        now = timezone.now()
        Blob.objects.filter(pk=row.pk).update(tier=BlobTier.HOT, archived_at=None, retrieval_started_at=None)
        files = list(File.objects.filter(versions__blob_id=row.pk).distinct().only("id", "name", "tenant_id"))
        File.objects.filter(pk__in=[f.pk for f in files]).update(last_accessed_at=now)
        event_record_many(verb="file.retrieved", tenant=row.tenant, targets=files, data={"tier": BlobTier.HOT})
        restored = File.objects.filter(current_version__blob_id=row.pk, deleted_at__isnull=True).select_related(
            "folder"
        )
        files_event_publish(event="file.restored", files=restored, **{"from": "archive"})
        tenant_id, sha256, key = row.tenant_id, row.sha256, row.storage_key
        transaction.on_commit(lambda: archive_copy_drop(tenant_id=tenant_id, sha256=sha256, key=key), robust=True)
    log.info("blob %s retrieved from the archive (%d files)", key, len(files))
    return HOT


def _no_archive_copy(blob: Blob, *, why: str) -> str:
    """Neither the primary nor the archive holds the bytes (the archive's copy is missing,
    or damaged: nothing was written): purged meanwhile, or lost."""
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        row = Blob.objects.select_for_update().filter(pk=blob.pk).first()
        if row is None:
            return GONE
        if row.tier != BlobTier.RETRIEVING:
            return HOT if row.tier == BlobTier.HOT else NOT_RETRIEVING
        if storage.object_head(row.storage_key, "primary") is not None:
            return _retrieve_finish(row)
        # Lost: it shows as archived again, and the scrub (files.services.scrub) judges it.
        log.error("blob %s: archive copy unusable (%s); retrieval given up", row.storage_key, why)
        Blob.objects.filter(pk=row.pk).update(tier=BlobTier.ARCHIVE, retrieval_started_at=None)
    return NOT_RETRIEVING


def _drop_objects(blob: Blob) -> None:
    """Delete a purged blob's primary and archive objects; call holding its content lock,
    having found no row."""
    for role in ("primary", "archive"):
        try:
            storage.object_delete(blob.storage_key, role=role)
        except storage.StorageUnavailable:
            log.warning("%s copy of purged blob %s left in place: storage unavailable", role, blob.storage_key)
