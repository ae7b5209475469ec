"""Content-addressed blobs: at most one stored object per distinct content per tenant.

The races here are between an upload that found an existing blob (and so wrote nothing)
and a purge deleting that blob. Both lock the blob row; the purge deletes the object while
holding the lock, and an upload that finds its row gone after skipping the write retries
with a write. So an acknowledged upload always has its bytes.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import Tenant
from files import storage
from files.models import Blob
from files.uploads import HashedUpload

log = logging.getLogger(__name__)


class BlobVanished(Exception):
    """The blob row disappeared between the dedup check and the lock: write the bytes after all."""


def blob_exists(*, tenant: Tenant, sha256: str) -> bool:
    return Blob.objects.filter(tenant=tenant, sha256=sha256).exists()


def tenant_usage_bytes(*, tenant: Tenant) -> int:
    """Bytes stored for the tenant, counting shared content once (what the quota measures)."""
    return Blob.objects.filter(tenant=tenant).aggregate(total=Sum("size"))["total"] or 0


def tenant_blob_usage(*, tenant: Tenant, sha256: str) -> tuple[bool, int]:
    """Whether the tenant stores this content already, and its usage in bytes, in one query."""
    row = Blob.objects.filter(tenant=tenant).aggregate(total=Sum("size"), present=Count("pk", filter=Q(sha256=sha256)))
    return bool(row["present"]), row["total"] or 0


def blob_write(*, tenant: Tenant, upload: HashedUpload, content_type: str) -> None:
    """Put the upload's bytes at their content address (idempotent: same key, same bytes)."""
    upload.seek(0)
    storage.object_put(
        key=storage.blob_key(tenant.id, upload.sha256),
        body=upload.file,
        sha256=upload.sha256,
        content_type=content_type,
        size=upload.size,
    )


def blob_lock(*, tenant: Tenant, sha256: str, size: int, content_type: str, written: bool) -> Blob:
    """The locked blob row for this content, created if `written` (the bytes are stored);
    call inside a transaction."""
    if written:
        # One statement, no savepoint: INSERT … ON CONFLICT DO UPDATE creates the row or locks
        # the one there (a concurrent insert of the same content waits on the unique index).
        # Same content, same size: the update changes nothing.
        key = storage.blob_key(tenant.id, sha256)
        blob = Blob(tenant=tenant, sha256=sha256, size=size, content_type=content_type, storage_key=key)
        Blob.objects.bulk_create(
            [blob], update_conflicts=True, unique_fields=["tenant", "sha256"], update_fields=["size"]
        )
        return blob
    blob = Blob.objects.select_for_update().filter(tenant=tenant, sha256=sha256).first()
    if blob is None:
        raise BlobVanished()
    return blob


def blob_release_if_unused(*, blob_id: int) -> bool:
    """Delete the blob and its object when no version refers to it any more; call inside a transaction."""
    blob = Blob.objects.select_for_update().filter(pk=blob_id).first()
    if blob is None or blob.versions.exists():
        return False
    # Delete the object while holding the row lock: an upload racing us either sees the
    # row (and waits for this lock, then finds it gone and writes) or writes after this.
    try:
        # Renditions are derived from the blob and go with it (their rows cascade).
        for key in blob.renditions.values_list("storage_key", flat=True):
            storage.object_delete(key)
        storage.object_delete(blob.storage_key)
    except storage.StorageUnavailable:
        log.warning("blob %s kept: storage unavailable during purge", blob.pk)
        raise
    blob.delete()
    return True


def orphan_sweep(*, older_than: timedelta = timedelta(hours=1), progress=None) -> int:
    """Delete objects under tenants/*/blobs/ that no blob row claims (a failed upload's bytes).

    Young objects are left alone: their upload may still be committing.
    """
    cutoff = timezone.now() - older_than
    deleted = 0
    for tenant_id in Tenant.objects.values_list("id", flat=True):
        prefix = f"tenants/{tenant_id}/blobs/"
        batch: list[dict] = []
        for obj in storage.object_keys(prefix):
            batch.append(obj)
            if len(batch) >= 500:
                deleted += _sweep_batch(tenant_id, batch, cutoff)
                batch = []
        deleted += _sweep_batch(tenant_id, batch, cutoff)
        if progress:
            progress(tenant_id, deleted)
    return deleted


def _sweep_batch(tenant_id, objects: list[dict], cutoff) -> int:
    if not objects:
        return 0
    shas = {obj["Key"].rsplit("/", 1)[-1]: obj for obj in objects}
    known = set(Blob.objects.filter(tenant_id=tenant_id, sha256__in=list(shas)).values_list("sha256", flat=True))
    deleted = 0
    for sha, obj in shas.items():
        if sha in known or obj["LastModified"] > cutoff:
            continue
        with transaction.atomic():
            # Re-check under the unique index: an upload may have claimed it just now.
            if Blob.objects.filter(tenant_id=tenant_id, sha256=sha).exists():
                continue
            storage.object_delete(obj["Key"])
            deleted += 1
            log.info("orphan object deleted: %s", obj["Key"])
    return deleted
