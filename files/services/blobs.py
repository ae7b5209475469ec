"""Content-addressed blobs: at most one stored object per distinct content per tenant.

Who may delete stored bytes
---------------------------
Each content address (tenant, sha256) has a lock, `content_lock` (files.services.locks),
held until the transaction ends. One rule keeps every acknowledged byte:

    The objects of a content address (the blob's object and its renditions) are deleted
    only by a holder of that address's lock who has seen, under the lock, that no Blob row
    exists for it.

- An upload takes the lock before it decides whether the tenant stores the content
  already (`blob_claim`), and holds it until its transaction commits, with its S3 write
  (a PUT, or a direct upload's copy) inside. A deleter therefore either finished before the
  upload decided (the upload then finds no row and writes the bytes itself) or waits for
  the upload's commit (and then finds the row and keeps the bytes). A retried upload whose
  bytes are already there from a failed attempt is covered the same way.
- A purge deletes rows only: versions, files, and a blob row once no version refers to it
  (`blob_release_if_unused`, under the blob's row lock, so an upload that found the row
  waits for the purge, finds the row gone and writes the bytes again). The objects are
  deleted after the purge commits, each address in a short transaction of its own that
  holds the lock, and only if no upload has stored the content again since. So a purge that
  rolls back has deleted nothing, and an object delete that fails after the commit leaves
  an orphan for the sweep (files.services.orphans), never a row whose bytes are gone.
- The orphan sweep deletes an unclaimed blob object the same way: under the lock, after
  looking for the row again. Renditions are written by processing outside this protocol:
  the sweep deletes a rendition object only when no Rendition row claims it and a fresh
  HEAD still shows it older than the sweep's age limit.

The price on the upload path is one query (the lock) and an S3 write made inside the
transaction; the write runs beside the inserts that follow it (`BlobWrites`), and the
transaction commits only once S3 has acknowledged it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.db import transaction

from accounts.models import Tenant
from files import storage
from files.models import Blob, BlobTier
from files.services.lifecycle import archive_copy_drop
from files.services.locks import content_lock
from files.services.replication import replication_queue_blob
from files.storage.failover import role_down, role_failed
from files.uploads import HashedUpload
from mediaportal.exceptions import PayloadTooLarge

log = logging.getLogger(__name__)

# Writes the bytes to `key` with `content_type` (a PUT from the upload's spool, a copy, ...).
StoreBytes = Callable[..., None]


def blob_exists(*, tenant: Tenant, sha256: str) -> bool:
    """Whether the tenant stores this content already."""
    return Blob.objects.filter(tenant=tenant, sha256=sha256).exists()


# New bytes travel to S3 on these threads while the request thread inserts the rows that refer
# to them (the threads wait on sockets almost all the time, so the GIL is no obstacle).
_WRITE_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-write")


class BlobWrites:
    """The S3 writes a transaction has started, to wait for before it ends.

    The upload's inserts (blob, file, version, event) run while its bytes travel. `wait` is
    called before the transaction commits, so no row commits without its bytes, and also
    when it fails: bytes must not land after the content lock that covers them is released.
    """

    def __init__(self) -> None:
        self._futures = []
        self.keys: list[str] = []  # the object keys written, for `quota_confirm`

    def start(self, write: Callable[[], None], *, key: str, new_bytes: bool = True) -> None:
        """`new_bytes` False: bytes the tenant stores already (and counts in its usage)."""
        if new_bytes:
            self.keys.append(key)
        self._futures.append(_WRITE_THREADS.submit(write))

    def wait(self, *, raise_errors: bool = True) -> None:
        """Block until every started write has finished; re-raise the first that failed."""
        futures, self._futures = self._futures, []
        errors = [exc for future in futures if (exc := future.exception()) is not None]
        if errors and raise_errors:
            raise errors[0]


def blob_write(*, tenant: Tenant, upload: HashedUpload, content_type: str) -> None:
    """Put the upload's bytes at their content address (idempotent: same key, same bytes)."""
    upload.seek(0)
    storage.object_put(
        key=storage.blob_key(tenant.id, upload.sha256),
        body=upload.file,
        sha256=upload.sha256,
        content_type=content_type,
        tenant_id=tenant.id,
    )


def blob_claim(
    *, tenant: Tenant, upload: HashedUpload, content_type: str, writes: BlobWrites, store: StoreBytes | None = None
) -> Blob:
    """The locked blob row for the upload's content, its bytes stored first when the tenant
    has none (by `store`, default a PUT from the upload, started on `writes`); 413 when they
    are larger than the whole quota. Whether new bytes fit beside the tenant's others is
    `quota_confirm`'s to decide, at the end of the transaction.

    Call inside the transaction that writes the rows referring to the blob, holding the
    content's lock (`content_lock`, taken before any row lock): it keeps purges and the
    sweep off these bytes until that transaction ends, which must wait for `writes` first.
    Lock the file rows the transaction changes before calling this: a purge locks files,
    then their blobs.
    """
    if blob_exists(tenant=tenant, sha256=upload.sha256):
        blob = Blob.objects.select_for_update().filter(tenant=tenant, sha256=upload.sha256).first()
        if blob is not None:
            if blob.tier != BlobTier.HOT:
                _rewarm(blob, tenant=tenant, upload=upload, content_type=content_type, writes=writes, store=store)
            return blob
        # A purge deleted the row while we waited for its row lock; its objects are deleted
        # only under the content lock we hold, after looking for a row again: ours, by then.
        log.info("blob %s purged during upload; writing it again", upload.sha256[:12])
    elif upload.size > tenant.quota_bytes:
        raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")
    key = storage.blob_key(tenant.id, upload.sha256)
    writes.start(_writer(tenant=tenant, upload=upload, content_type=content_type, store=store, key=key), key=key)
    # One statement, no savepoint: INSERT … ON CONFLICT DO UPDATE creates the row (or locks
    # one that appeared: same content, same size, so the update changes nothing).
    blob = Blob(tenant=tenant, sha256=upload.sha256, size=upload.size, content_type=content_type, storage_key=key)
    Blob.objects.bulk_create([blob], update_conflicts=True, unique_fields=["tenant", "sha256"], update_fields=["size"])
    replication_queue_blob(blob=blob)
    return blob


def _writer(*, tenant: Tenant, upload: HashedUpload, content_type: str, store, key: str) -> Callable[[], None]:
    """What stores the upload's bytes at `key`: `store`, by default a PUT from the upload."""

    def write() -> None:
        if store is None:
            blob_write(tenant=tenant, upload=upload, content_type=content_type)
        else:
            store(key=key, content_type=content_type)

    return write


def _rewarm(blob: Blob, *, tenant: Tenant, upload: HashedUpload, content_type: str, writes: BlobWrites, store) -> None:
    """Uploaded bytes that the tenant keeps in the archive: they are in hand, so they go to the
    primary again and the blob is hot (its new file is fresh, and processing reads them); the
    archive copy goes after the commit (files.services.lifecycle). Under the content lock."""
    key = blob.storage_key
    write = _writer(tenant=tenant, upload=upload, content_type=content_type, store=store, key=key)
    writes.start(write, key=key, new_bytes=False)
    Blob.objects.filter(pk=blob.pk).update(tier=BlobTier.HOT, archived_at=None, retrieval_started_at=None)
    blob.tier, blob.archived_at, blob.retrieval_started_at = BlobTier.HOT, None, None
    tenant_id, sha256 = blob.tenant_id, blob.sha256
    transaction.on_commit(lambda: archive_copy_drop(tenant_id=tenant_id, sha256=sha256, key=key), robust=True)


def blob_release_if_unused(*, blob_id: int) -> bool:
    """Delete the blob's row when no version refers to it any more, and its objects once the
    transaction commits; call inside a transaction."""
    blob = Blob.objects.select_for_update().filter(pk=blob_id).first()
    if blob is None or blob.versions.exists():
        return False
    # Renditions are derived from the blob and go with it (their rows cascade); kinds with the
    # same bytes share one object (see _store_renditions), deleted once.
    renditions = list(dict.fromkeys(blob.renditions.values_list("storage_key", flat=True)))
    keys = {
        # An archived blob's object is in the archive bucket, and a hot one's may be there
        # too (a sweep's copy made before it set the tier, a retrieval's not yet dropped);
        # the primary may still hold one from a move under way; the replica holds copies of
        # everything.
        "primary": [*renditions, blob.storage_key],
        "archive": [blob.storage_key],
        "replica": [*renditions, blob.storage_key],
    }
    blob.delete()
    tenant_id, sha256 = blob.tenant_id, blob.sha256
    transaction.on_commit(lambda: _delete_released(tenant_id=tenant_id, sha256=sha256, keys=keys), robust=True)
    return True


def _delete_released(*, tenant_id, sha256: str, keys: dict[str, list[str]]) -> None:
    """After a purge committed: delete a released blob's objects in every bucket role, unless
    an upload has stored the same content again since (its row is back, and so are its
    bytes). What a role that is down keeps is an orphan the sweep removes later."""
    with transaction.atomic():
        content_lock(tenant_id=tenant_id, sha256=sha256)
        if Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).exists():
            return
        for role, role_keys in keys.items():
            if role_keys and not _delete_in(role, role_keys):
                log.warning(
                    "objects of purged blob %s left in the %s bucket for the orphan sweep: storage unavailable",
                    sha256[:12],
                    role,
                )


def _delete_in(role: str, keys: list[str]) -> bool:
    """Delete the keys in one bucket role; False when it is (or just was) unavailable: one
    region down must not cost every purge its timeouts, nor keep the others' deletes."""
    if role_down(role):
        return False
    try:
        for key in keys:
            storage.object_delete(key, role=role)
    except storage.StorageUnavailable:
        role_failed(role)
        return False
    return True
