"""The orphan sweep: deleting stored objects that nothing refers to.

An object is judged under the lock of its content address (files.services.blobs says why
that keeps every acknowledged byte), never on a listing alone, and only once it is older
than the sweep's age limit, so the uploads and processing still committing are left alone.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import DeletedTenant, Tenant
from files import storage
from files.models import Blob, Rendition, UploadSession, UploadState
from files.services.locks import content_lock
from mediaportal.maintenance import maintenance_state

log = logging.getLogger(__name__)

SWEEP_BATCH = 500


# What the sweep judges in each bucket role. The replica holds copies of blobs and renditions
# (and the tenant's manifest, which is never judged here); the archive holds blobs only.
SWEPT_KINDS = {
    "primary": ("blobs/", "renditions/", "staging/"),
    "archive": ("blobs/",),
    "replica": ("blobs/", "renditions/"),
}


def orphan_sweep(
    *,
    older_than: timedelta = timedelta(hours=1),
    progress: Callable[[str, int], None] | None = None,
    tenant_ids: Iterable | None = None,
) -> int:
    """Delete stored objects that nothing refers to, in every bucket role; returns how many.

    Under `tenants/<id>/`: blob objects no blob row claims (a failed upload's bytes, a purge
    whose deletes failed, a copy to the replica that raced a purge), renditions no rendition
    row claims (processing that raced a purge), staged direct uploads whose session is
    completed, expired or gone, and every object of a tenant that was deleted (a
    `DeletedTenant` row says so; a prefix of a tenant this database never knew is left
    alone). Objects younger than `older_than` are left alone. `tenant_ids` limits the sweep
    to those tenants' prefixes (existing or not). The archive and replica buckets are swept
    by the same rules; one of them being down is logged and swept next time.
    """
    if maintenance_state() is not None:
        # A restore is rebuilding the rows that claim objects: judged now, the objects stored
        # after its backup (which it turns into files) would look unclaimed.
        log.warning("orphan sweep skipped: the site is in maintenance")
        return 0
    cutoff = timezone.now() - older_than
    tenant_ids = None if tenant_ids is None else list(tenant_ids)
    deleted = 0
    for role in storage.ROLES:
        try:
            deleted += _sweep_role(role, cutoff=cutoff, tenant_ids=tenant_ids, progress=progress, before=deleted)
        except storage.StorageUnavailable:
            if role == "primary":
                raise
            log.warning("orphan sweep: the %s bucket is unavailable; swept next time", role)
    return deleted


def _sweep_role(role: str, *, cutoff: datetime, tenant_ids: list | None, progress, before: int) -> int:
    if tenant_ids is None:
        prefixes = storage.object_prefixes(storage.TENANTS_PREFIX, role)
    else:
        prefixes = (f"{storage.TENANTS_PREFIX}{tenant_id}/" for tenant_id in tenant_ids)
    sweepers = {
        "blobs/": functools.partial(_sweep_blobs, role=role),
        "renditions/": functools.partial(_sweep_renditions, role=role, cutoff=cutoff),
        "staging/": _sweep_staging,
    }
    deleted = 0
    for prefix in prefixes:
        tenant_id = _tenant_id(prefix)
        if tenant_id is None:
            log.info("orphan sweep: %s in the %s bucket is not a tenant's prefix; left alone", prefix, role)
            continue
        if Tenant.objects.filter(pk=tenant_id).exists():
            for kind in SWEPT_KINDS[role]:
                deleted += _sweep_kind(prefix + kind, cutoff, functools.partial(sweepers[kind], tenant_id), role)
        elif DeletedTenant.objects.filter(pk=tenant_id).exists():
            # Nothing can write for a tenant that is gone: every object of it is an orphan.
            deleted += _sweep_kind(prefix, cutoff, functools.partial(_delete_all, role=role), role)
        else:
            # Neither here nor deleted here: another deployment's, or this worker has the
            # wrong database. Deleting it could erase a whole bucket.
            log.warning("orphan sweep: %s belongs to no tenant this database knows; left alone", prefix)
        if progress:
            progress(str(tenant_id), before + deleted)
    return deleted


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _tenant_id(prefix: str) -> uuid.UUID | None:
    return _uuid_or_none(prefix[len(storage.TENANTS_PREFIX) :].rstrip("/"))


def _sweep_kind(prefix: str, cutoff: datetime, sweep_batch: Callable[[list[dict]], int], role: str) -> int:
    """List `prefix` and hand its objects old enough to judge to `sweep_batch`, in batches."""
    deleted = 0
    batch: list[dict] = []
    for obj in storage.object_keys(prefix, role):
        if obj["LastModified"] > cutoff:
            continue  # young: its upload or processing may still be committing
        batch.append(obj)
        if len(batch) >= SWEEP_BATCH:
            deleted += sweep_batch(batch)
            batch = []
    if batch:
        deleted += sweep_batch(batch)
    return deleted


def _deleted(key: str, why: str, role: str = "primary") -> int:
    storage.object_delete(key, role)
    log.info("orphan object deleted from the %s bucket (%s): %s", role, why, key)
    return 1


def _sweep_blobs(tenant_id, objects: list[dict], *, role: str) -> int:
    # tenants/<id>/blobs/<sha[:2]>/<sha>
    by_sha = {obj["Key"].rsplit("/", 1)[-1]: obj["Key"] for obj in objects}
    claimed = set(Blob.objects.filter(tenant_id=tenant_id, sha256__in=list(by_sha)).values_list("sha256", flat=True))
    deleted = 0
    for sha256, key in by_sha.items():
        if sha256 in claimed:
            continue
        with transaction.atomic():
            # The listing is no proof: an upload may hold this content's lock, about to commit
            # its row (and its fresh write of these very bytes). Ask again under the lock.
            content_lock(tenant_id=tenant_id, sha256=sha256)
            if not Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).exists():
                deleted += _deleted(key, "no blob row", role)
    return deleted


def _sweep_renditions(tenant_id, objects: list[dict], *, role: str, cutoff: datetime) -> int:
    # tenants/<id>/renditions/<sha[:2]>/<sha>/<kind>.<format>
    keys = [obj["Key"] for obj in objects]
    shas = {key.rsplit("/", 2)[-2] for key in keys}
    claimed = set(
        Rendition.objects.filter(tenant_id=tenant_id, blob__tenant_id=tenant_id, blob__sha256__in=list(shas))
        .values_list("storage_key", flat=True)
        .iterator()
    )
    deleted = 0
    for key in keys:
        if key in claimed:
            continue
        sha256 = key.rsplit("/", 2)[-2]
        with transaction.atomic():
            content_lock(tenant_id=tenant_id, sha256=sha256)
            if Rendition.objects.filter(
                tenant_id=tenant_id, blob__tenant_id=tenant_id, blob__sha256=sha256, storage_key=key
            ).exists():
                continue
            # Processing writes the object before its row: one that was rewritten since the
            # listing is being made again right now, and its row is on the way.
            last_modified = storage.object_last_modified(key, role)
            if last_modified is not None and last_modified <= cutoff:
                deleted += _deleted(key, "no rendition row", role)
    return deleted


def _sweep_staging(tenant_id, objects: list[dict]) -> int:
    # tenants/<id>/staging/<upload id>. Only a pending session's staged object is still to be
    # completed; completed and expired sessions never read theirs again, and the bytes of a
    # presigned POST reused after completion would otherwise stay for ever.
    by_session: dict[uuid.UUID | None, list[str]] = {}
    for obj in objects:
        by_session.setdefault(_uuid_or_none(obj["Key"].rsplit("/", 1)[-1]), []).append(obj["Key"])
    pending = UploadSession.objects.filter(
        tenant_id=tenant_id, pk__in=[pk for pk in by_session if pk], state=UploadState.PENDING
    )
    keep = set(pending.values_list("pk", flat=True))
    return sum(
        _deleted(key, "no pending upload")
        for session_id, keys in by_session.items()
        if session_id is None or session_id not in keep
        for key in keys
    )


def _delete_all(objects: list[dict], *, role: str) -> int:
    return sum(_deleted(obj["Key"], "tenant gone", role) for obj in objects)
