"""Content-addressed blobs: at most one stored object per distinct content per tenant.

Who may delete stored bytes, and when
-------------------------------------
Each content address (tenant, sha256) has a PostgreSQL advisory lock, `content_lock`,
taken with `pg_advisory_xact_lock` and so held until the transaction ends. One rule keeps
every acknowledged byte:

    The objects of a content address (the blob's object and its renditions) are deleted
    only by a holder of that address's lock who has seen, under the lock, that no Blob row
    exists for it.

- An upload takes the lock before it decides whether the tenant stores the content
  already, and holds it until its transaction commits, with its S3 write (a PUT, or a direct
  upload's copy) inside (`_store` in files.services.files takes it, `blob_claim` decides). A deleter therefore either finished before the
  upload decided (the upload then finds no row and writes the bytes itself) or waits for
  the upload's commit (and then finds the row and keeps the bytes). A retried upload whose
  bytes are already there from a failed attempt is covered the same way: neither a stale
  listing nor an uncommitted row can fool a deleter that holds the lock.
- A purge deletes rows only: versions, files, and a blob row once no version refers to it
  (under the blob's row lock, so an upload that found the row waits for the purge, finds the
  row gone and writes the bytes again). The objects are deleted after the purge commits
  (`transaction.on_commit`), each address in a short transaction of its own that holds the
  lock, and only if no upload has stored the content again since. So a purge that rolls back
  has deleted nothing, and an object delete that fails after the commit leaves an orphan for
  the sweep, never a row whose bytes are gone.
- The orphan sweep (`orphan_sweep`) deletes an unclaimed object under a blob key the same
  way: under the lock, after looking for the row again.

Content locks add no deadlocks: an upload takes its one content lock before any row lock
(a direct upload's session row aside, which no other holder of a content lock waits for),
and the purge's after-commit step and the sweep hold nothing else while they wait for one;
the purge's own transaction takes none, and neither does restoring a version (the old
version's row keeps its blob, see `file_version_restore`). Row locks go folders, files,
blobs: an upload locks the file it adds a version to before the blob row, as a purge does.
Renditions are written by processing outside this protocol: the sweep deletes a rendition
object only when no Rendition row claims it and a fresh HEAD still shows it older than the
sweep's age limit.

The price on the upload path is one query (the lock) and an S3 write made inside the
transaction; no S3 round trip is added. The write runs beside the inserts that follow it
(`BlobWrites`), and the transaction commits only once S3 has acknowledged it.

The quota
---------
New bytes are counted against the tenant's quota at the end of the upload's transaction, by
`quota_confirm`, under a per-tenant advisory lock that each upload of new bytes takes just
before its commit (in a key space of its own, after every other lock): each upload counts
all those that committed before it, so uploads in flight together cannot overfill the
quota, and the one that no longer fits is refused and its object deleted. Counted before
the write instead, two uploads that each fit alone could both commit. The usage is the sum
of the tenant's `TenantUsage` rows, which triggers on files_blob insert as blobs come and
go; they are only ever inserted, so neither uploads nor purges wait for each other to
count, and `quota_confirm` (or `usage_settle`, after a purge) folds them into one row when
they pile up. Bytes the tenant stores already add nothing and are not counted at all;
bytes larger than the whole quota are refused before they are written (`blob_claim`), and
a direct upload's session checks the usage when it starts, before the client sends
anything.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.models import DeletedTenant, Tenant
from files import storage
from files.models import Blob, Rendition, TenantUsage, UploadSession, UploadState
from files.uploads import HashedUpload
from mediaportal.exceptions import PayloadTooLarge

log = logging.getLogger(__name__)

# Writes the bytes to `key` with `content_type` (a PUT from the upload's spool, a copy, ...).
StoreBytes = Callable[..., None]


def _content_lock_id(tenant_id, sha256: str) -> int:
    # A signed 64-bit key for pg_advisory_xact_lock(bigint). A collision only makes two
    # addresses wait for each other, never lets two holders in at once.
    digest = hashlib.blake2b(f"blob:{tenant_id}:{sha256}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def content_lock(*, tenant_id, sha256: str) -> None:
    """Hold the content address's lock until the transaction ends (see the module docstring)."""
    if not connection.in_atomic_block:
        # In autocommit the lock would be released the moment it was taken.
        raise RuntimeError("content_lock needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_content_lock_id(tenant_id, sha256)])


# pg_advisory_xact_lock(int, int) keys, a space apart from the content locks' bigint keys.
QUOTA_LOCK_CLASS = 1
# A tenant's usage rows are folded into one once there are more than this many.
USAGE_ROWS_FOLDED_AFTER = 64


def _quota_lock_id(tenant_id) -> int:
    # A collision only makes two tenants' final quota counts wait for each other.
    return int.from_bytes(hashlib.blake2b(str(tenant_id).encode(), digest_size=4).digest(), "big", signed=True)


def _quota_lock(*, tenant_id) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [QUOTA_LOCK_CLASS, _quota_lock_id(tenant_id)])


def quota_confirm(*, tenant: Tenant, written: Iterable[str]) -> None:
    """413 unless the tenant's usage, counted with every upload committed before this one,
    still fits its quota; delete the objects this transaction `written` when it does not.

    Call at the end of the writes that claimed new bytes, once their S3 writes finished:
    the lock is held until the transaction ends, so nothing that waits for other locks
    should follow. The usage is read after the lock is granted (one statement each: a
    statement sees what committed before the statement began).
    """
    if _usage_under_lock(tenant_id=tenant.id) <= tenant.quota_bytes:
        return
    # Still under the content locks: no other upload can have claimed these addresses. An
    # object that cannot be deleted now is an orphan, which the sweep removes later.
    for object_key in written:
        try:
            storage.object_delete(object_key)
        except Exception:  # noqa: BLE001 - the answer is the 413 either way
            log.warning("could not delete %s after a refused upload; left to the orphan sweep", object_key)
    raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")


def usage_settle(*, tenant_id) -> None:
    """Fold the tenant's usage rows when they piled up, in a transaction of its own that
    holds nothing but the quota lock: for after a purge's commit, which writes a row per
    blob it releases, so a tenant that only deletes does not leave the next reads (its
    usage on every tenant page, a direct upload's start) summing thousands of rows."""
    with transaction.atomic():
        _usage_under_lock(tenant_id=tenant_id)


def _usage_under_lock(*, tenant_id) -> int:
    """The tenant's usage, read holding its quota lock (kept until the transaction ends);
    its rows are folded into one as well when they piled up."""
    _quota_lock(tenant_id=tenant_id)
    used, rows = _usage_read(tenant_id=tenant_id)
    if rows > USAGE_ROWS_FOLDED_AFTER:
        _usage_fold(tenant_id=tenant_id)
    return used


def _usage_fold(*, tenant_id) -> None:
    """Replace the tenant's committed usage rows (and this transaction's) by their sum, in
    one statement: a reader sees the rows before or after, never half. Rows that other
    transactions add meanwhile are not visible to it and stay as they are. Call holding the
    tenant's quota lock, so that two folds never overlap."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH folded AS (DELETE FROM files_tenantusage WHERE tenant_id = %s RETURNING bytes)"
            " INSERT INTO files_tenantusage (tenant_id, bytes)"
            " SELECT %s, sum(bytes) FROM folded HAVING sum(bytes) <> 0",
            [tenant_id, tenant_id],
        )


def _usage_read(*, tenant_id) -> tuple[int, int]:
    """The tenant's usage in bytes, and how many rows make it up."""
    usage = TenantUsage.objects.filter(tenant_id=tenant_id).aggregate(used=Sum("bytes", default=0), rows=Count("pk"))
    return usage["used"], usage["rows"]


def tenant_usage_bytes(*, tenant: Tenant) -> int:
    """Bytes stored for the tenant, counting shared content once (what the quota measures)."""
    return _usage_read(tenant_id=tenant.id)[0]


def blob_exists(*, tenant: Tenant, sha256: str) -> bool:
    """Whether the tenant stores this content already."""
    return Blob.objects.filter(tenant=tenant, sha256=sha256).exists()


# New bytes travel to S3 on these threads while the request thread inserts the rows that refer
# to them (the threads wait on sockets almost all the time, so the GIL is no obstacle).
_WRITE_THREADS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="blob-write")


class BlobWrites:
    """The S3 writes a transaction has started, to wait for before it ends.

    An upload's PUT and the inserts after it (blob, file, version, event) used to run one
    after the other; now the inserts run while the bytes travel. `wait` is called before
    the transaction commits, so no row commits without its bytes, and also when it fails:
    bytes must not land after the content lock that covers them is released.
    """

    def __init__(self) -> None:
        self._futures = []
        self.keys: list[str] = []  # the object keys written, for `quota_confirm`

    def start(self, write: Callable[[], None], *, key: str) -> None:
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
        size=upload.size,
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
            return blob
        # A purge deleted the row while we waited for its row lock; its objects are deleted
        # only under the content lock we hold, after looking for a row again: ours, by then.
        log.info("blob %s purged during upload; writing it again", upload.sha256[:12])
    elif upload.size > tenant.quota_bytes:
        raise PayloadTooLarge("The tenant's storage quota is used up.", code="quota_exceeded")
    key = storage.blob_key(tenant.id, upload.sha256)

    def write() -> None:
        if store is None:
            blob_write(tenant=tenant, upload=upload, content_type=content_type)
        else:
            store(key=key, content_type=content_type)

    writes.start(write, key=key)
    # One statement, no savepoint: INSERT … ON CONFLICT DO UPDATE creates the row (or locks
    # one that appeared: same content, same size, so the update changes nothing).
    blob = Blob(tenant=tenant, sha256=upload.sha256, size=upload.size, content_type=content_type, storage_key=key)
    Blob.objects.bulk_create([blob], update_conflicts=True, unique_fields=["tenant", "sha256"], update_fields=["size"])
    return blob


def blob_release_if_unused(*, blob_id: int) -> bool:
    """Delete the blob's row when no version refers to it any more, and its objects once the
    transaction commits; call inside a transaction."""
    blob = Blob.objects.select_for_update().filter(pk=blob_id).first()
    if blob is None or blob.versions.exists():
        return False
    # Renditions are derived from the blob and go with it (their rows cascade); kinds with the
    # same bytes share one object (see _store_renditions), deleted once.
    keys = list(dict.fromkeys([*blob.renditions.values_list("storage_key", flat=True), blob.storage_key]))
    blob.delete()
    tenant_id, sha256 = blob.tenant_id, blob.sha256
    transaction.on_commit(lambda: _delete_released(tenant_id=tenant_id, sha256=sha256, keys=keys), robust=True)
    return True


def _delete_released(*, tenant_id, sha256: str, keys: list[str]) -> None:
    """After a purge committed: delete a released blob's objects, unless an upload has stored
    the same content again since (its row is back, and so are its bytes)."""
    try:
        with transaction.atomic():
            content_lock(tenant_id=tenant_id, sha256=sha256)
            if Blob.objects.filter(tenant_id=tenant_id, sha256=sha256).exists():
                return
            for key in keys:
                storage.object_delete(key)
    except storage.StorageUnavailable:
        # The rows are gone for good; the objects are orphans now, which the sweep removes.
        log.warning("objects of purged blob %s left for the orphan sweep: storage unavailable", sha256[:12])


# --- The orphan sweep -----------------------------------------------------------------

SWEEP_BATCH = 500


def orphan_sweep(
    *,
    older_than: timedelta = timedelta(hours=1),
    progress: Callable[[str, int], None] | None = None,
    tenant_ids: Iterable | None = None,
) -> int:
    """Delete stored objects that nothing refers to; returns how many.

    Under `tenants/<id>/`: blob objects no blob row claims (a failed upload's bytes, a purge
    whose deletes failed), renditions no rendition row claims (processing that raced a
    purge), staged direct uploads whose session is completed, expired or gone, and every
    object of a tenant that was deleted (a `DeletedTenant` row says so; a prefix of a
    tenant this database never knew is left alone). Objects younger than `older_than` are left
    alone. `tenant_ids` limits the sweep to those tenants' prefixes (existing or not).
    """
    cutoff = timezone.now() - older_than
    if tenant_ids is None:
        prefixes = storage.object_prefixes(storage.TENANTS_PREFIX)
    else:
        prefixes = (f"{storage.TENANTS_PREFIX}{tenant_id}/" for tenant_id in tenant_ids)
    deleted = 0
    for prefix in prefixes:
        tenant_id = _tenant_id(prefix)
        if tenant_id is None:
            log.info("orphan sweep: %s is not a tenant's prefix; left alone", prefix)
            continue
        if Tenant.objects.filter(pk=tenant_id).exists():
            deleted += _sweep_kind(prefix + "blobs/", cutoff, functools.partial(_sweep_blobs, tenant_id))
            deleted += _sweep_kind(
                prefix + "renditions/", cutoff, functools.partial(_sweep_renditions, tenant_id, cutoff=cutoff)
            )
            deleted += _sweep_kind(prefix + "staging/", cutoff, functools.partial(_sweep_staging, tenant_id))
        elif DeletedTenant.objects.filter(pk=tenant_id).exists():
            # Nothing can write for a tenant that is gone: every object of it is an orphan.
            deleted += _sweep_kind(prefix, cutoff, _delete_all)
        else:
            # Neither here nor deleted here: another deployment's, or this worker has the
            # wrong database. Deleting it could erase a whole bucket.
            log.warning("orphan sweep: %s belongs to no tenant this database knows; left alone", prefix)
        if progress:
            progress(str(tenant_id), deleted)
    return deleted


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _tenant_id(prefix: str) -> uuid.UUID | None:
    return _uuid_or_none(prefix[len(storage.TENANTS_PREFIX) :].rstrip("/"))


def _sweep_kind(prefix: str, cutoff: datetime, sweep_batch: Callable[[list[dict]], int]) -> int:
    """List `prefix` and hand its objects old enough to judge to `sweep_batch`, in batches."""
    deleted = 0
    batch: list[dict] = []
    for obj in storage.object_keys(prefix):
        if obj["LastModified"] > cutoff:
            continue  # young: its upload or processing may still be committing
        batch.append(obj)
        if len(batch) >= SWEEP_BATCH:
            deleted += sweep_batch(batch)
            batch = []
    if batch:
        deleted += sweep_batch(batch)
    return deleted


def _deleted(key: str, why: str) -> int:
    storage.object_delete(key)
    log.info("orphan object deleted (%s): %s", why, key)
    return 1


def _sweep_blobs(tenant_id, objects: list[dict]) -> int:
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
                deleted += _deleted(key, "no blob row")
    return deleted


def _sweep_renditions(tenant_id, objects: list[dict], *, cutoff: datetime) -> int:
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
            last_modified = storage.object_last_modified(key)
            if last_modified is not None and last_modified <= cutoff:
                deleted += _deleted(key, "no rendition row")
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


def _delete_all(objects: list[dict]) -> int:
    return sum(_deleted(obj["Key"], "tenant gone") for obj in objects)
