"""The replica region: a copy of every blob and rendition, and reads from it when the
primary region lacks an object or is down.

A new blob (any upload path, `blob_claim`) and new renditions (`_store_renditions`) queue a
copy by task once their rows commit; the copy is verified (SHA-256) and then sets
`replicated_at`. Nothing on the upload path waits for the replica: a publish that fails, a
task that runs out of retries or a replica that is down leaves `replicated_at` null, and the
hourly reconcile copies whatever is still missing. A purge deletes the copies with the
rest (files.services.blobs); the orphan sweep removes copies a failed delete or a copy racing
a purge left behind (files.services.orphans).

The copy task takes no content lock: it only writes, and holding the lock while bytes
cross regions would make an upload of the same content wait for the replica.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from files import storage
from files.models import Blob, BlobTier, Rendition
from files.storage.failover import object_probe, role_down
from files.storage.transfer import ObjectCorrupt, ObjectMissing, object_fetch, object_transfer

log = logging.getLogger(__name__)

# Rows younger than this may still have their copy task in flight: the reconcile waits.
RECONCILE_AFTER = timedelta(minutes=10)
# Per kind (blobs, renditions) and run: a backlog after a long replica outage drains over a
# few hourly runs instead of one run outliving the broker's visibility timeout.
RECONCILE_LIMIT = 5000
RECONCILE_BATCH = 200
# After a failed publish, further publishes from this process are skipped this long: a
# broker that hangs must not cost every upload another timeout (the reconcile copies them).
BROKER_DOWN_SECONDS = 10.0
# One repair queued per blob and process in this long, however many downloads find it broken.
REPAIR_QUEUED_SECONDS = 60.0

_broker_down_until = 0.0
_repairs_queued: dict[int, float] = {}
_memo_lock = threading.Lock()


# --- Queueing (by name: files.tasks imports this module) ------------------------------------


def _send(name: str, args: list) -> bool:
    """Publish a task now; False (logged) when the broker is away."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        log.info("%s %s not queued: the broker failed moments ago; the reconcile copies it", name, args)
        return False
    try:
        # One attempt, no retry: processing's publish after the same commit already waits
        # for a broker that hangs, and a copy that is not queued is only later, not lost.
        current_app.send_task(name, args=args, retry=False)
    except Exception as exc:  # noqa: BLE001 - whatever the broker raised, the upload stands
        with _memo_lock:
            _broker_down_until = time.monotonic() + BROKER_DOWN_SECONDS
        log.warning("could not queue %s %s (%r); the replication reconcile will copy it", name, args, exc)
        return False
    return True


def replication_queue_blob(*, blob: Blob) -> None:
    """Queue the copy of a new blob to the replica once the transaction commits."""
    transaction.on_commit(functools.partial(_send, "files.replicate_blob", [blob.pk]), robust=True)


def replication_queue_renditions(*, rendition_ids: list[int]) -> None:
    """Queue the copy of renditions just stored (once the transaction commits, if any)."""
    if rendition_ids:
        transaction.on_commit(functools.partial(_send, "files.replicate_rendition", [list(rendition_ids)]), robust=True)


# --- Copying ---------------------------------------------------------------------------------


def _blob_sources(blob: Blob) -> tuple[str, ...]:
    # An archived blob lives in the archive bucket; during a move either may hold it.
    return ("primary", "archive") if blob.tier == BlobTier.HOT else ("archive", "primary")


def blob_replicate(*, blob_id: int) -> str:
    """Copy the blob's object to the replica bucket (verified) and set `replicated_at`.

    Returns "replicated", "already", "gone" (purged, or another object now), "missing" or
    "corrupt" (no intact source: the scrub's to repair or flag), or "cold" (a Glacier
    object, copied once retrieved). `StorageUnavailable` when a region is down: retry later.
    """
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None:
        return "gone"
    if blob.replicated_at is not None:
        return "already"
    outcome = "missing"
    for source in _blob_sources(blob):
        try:
            object_transfer(
                key=blob.storage_key,
                source=source,
                target="replica",
                sha256=blob.sha256,
                content_type=blob.content_type,
                tenant_id=blob.tenant_id,
            )
        except (ObjectMissing, storage.ObjectChanged):
            continue
        except ObjectCorrupt:
            outcome = "corrupt"
            continue
        except storage.ObjectArchived:
            log.info("blob %s not replicated: cold in the %s bucket until retrieved", blob.sha256[:12], source)
            return "cold"
        marked = Blob.objects.filter(pk=blob.pk, storage_key=blob.storage_key, replicated_at__isnull=True).update(
            replicated_at=timezone.now()
        )
        log.info("blob %s replicated from the %s bucket", blob.sha256[:12], source)
        return "replicated" if marked else "gone"
    log.warning("blob %s not replicated: its object is %s", blob.sha256[:12], outcome)
    return outcome


def object_sha256(key: str, role: str = "primary") -> str:
    """The SHA-256 an object was stored with (its metadata), else of the bytes it holds."""
    head = storage.object_head(key, role)
    if head is None:
        raise ObjectMissing(key)
    return head.get("Metadata", {}).get("sha256") or object_fetch(key, role=role)


def renditions_replicate(*, rendition_ids: list[int]) -> int:
    """Copy the renditions' objects to the replica (once per object, however many rows name
    it) and set their `replicated_at`; returns how many objects were copied. A missing or
    damaged object is skipped (logged): the scrub repairs it or has it made again.
    `StorageUnavailable` when a region is down."""
    rows = list(Rendition.objects.filter(pk__in=rendition_ids, replicated_at__isnull=True).order_by("pk"))
    by_key: dict[str, list[Rendition]] = {}
    for row in rows:
        by_key.setdefault(row.storage_key, []).append(row)
    copied = 0
    for key, group in by_key.items():
        first = group[0]
        try:
            sha256 = first.sha256 or object_sha256(key)
            object_transfer(
                key=key,
                source="primary",
                target="replica",
                sha256=sha256,
                content_type=f"image/{first.format}",
                tenant_id=first.tenant_id,
            )
        except (ObjectMissing, ObjectCorrupt, storage.ObjectChanged) as exc:
            log.warning("rendition %s not replicated: %r", key, exc)
            continue
        # Only rows still naming these bytes: a reprocess rewriting the object meanwhile
        # resets `replicated_at`, and its own task copies the new bytes.
        Rendition.objects.filter(
            pk__in=[row.pk for row in group], storage_key=key, sha256=first.sha256, replicated_at__isnull=True
        ).update(replicated_at=timezone.now(), sha256=sha256)
        copied += 1
    return copied


# --- The reconcile and the lag --------------------------------------------------------------


def _unreplicated(model, cutoff):
    rows = model.objects.filter(replicated_at__isnull=True, created_at__lte=cutoff)
    if model is Blob:
        # A blob with no intact copy left cannot be copied; the scrub flagged it for admins.
        rows = rows.filter(integrity_lost_at__isnull=True)
    return rows.order_by("created_at")


def replication_reconcile(
    *, older_than: timedelta = RECONCILE_AFTER, limit: int = RECONCILE_LIMIT, deadline: float | None = None
) -> dict:
    """Copy the blobs and renditions whose copy is still missing after `older_than` (a
    publish that failed, a task that gave up while the replica was down), oldest first, at
    most `limit` of each per run; stops at the first region found down, or before the next
    batch once `deadline` (time.monotonic()) has passed. Returns counts."""
    cutoff = timezone.now() - older_than
    counts = {"blobs": 0, "renditions": 0, "skipped": 0, "stopped": False}
    blob_ids = list(_unreplicated(Blob, cutoff).values_list("pk", flat=True)[:limit])
    rendition_ids = list(_unreplicated(Rendition, cutoff).values_list("pk", flat=True)[:limit])
    log.info("replication reconcile: %d blobs and %d renditions to copy", len(blob_ids), len(rendition_ids))

    def out_of_time() -> bool:
        counts["stopped"] = deadline is not None and time.monotonic() > deadline
        return counts["stopped"]

    try:
        for start in range(0, len(blob_ids), RECONCILE_BATCH):
            if out_of_time():
                break
            for blob_id in blob_ids[start : start + RECONCILE_BATCH]:
                outcome = blob_replicate(blob_id=blob_id)
                counts["blobs" if outcome == "replicated" else "skipped"] += 1
            log.info(
                "replication reconcile: %d of %d blobs done", min(start + RECONCILE_BATCH, len(blob_ids)), len(blob_ids)
            )
        for start in range(0, len(rendition_ids), RECONCILE_BATCH):
            if out_of_time():
                break
            counts["renditions"] += renditions_replicate(rendition_ids=rendition_ids[start : start + RECONCILE_BATCH])
            log.info(
                "replication reconcile: %d of %d renditions done",
                min(start + RECONCILE_BATCH, len(rendition_ids)),
                len(rendition_ids),
            )
    except storage.StorageUnavailable:
        log.warning("replication reconcile stopped: a region is unavailable; the next run goes on")
        counts["stopped"] = True
    log.info("replication reconcile: %s", counts)
    return counts


def replication_lag_seconds() -> float:
    """Age of the oldest blob not yet in the replica (0 when none is): how much a loss of
    the primary region now could cost. Blobs flagged lost are left out (they never will be)."""
    oldest = (
        Blob.objects.filter(replicated_at__isnull=True, integrity_lost_at__isnull=True)
        .aggregate(oldest=Min("created_at"))
        .get("oldest")
    )
    return 0.0 if oldest is None else max(0.0, (timezone.now() - oldest).total_seconds())


# --- Reading from the replica ---------------------------------------------------------------


def _looks_intact(head: dict, blob: Blob) -> bool:
    # What a HEAD can tell: the size, and the SHA-256 the object was written with. Bytes
    # rotting under the same metadata are the scrub's to find.
    stored = head.get("Metadata", {}).get("sha256")
    return head.get("ContentLength") == blob.size and stored in (None, blob.sha256)


def download_source(*, blob: Blob) -> str:
    """The bucket role a download of `blob` is signed for: "primary", or "replica" when the
    blob has a replica copy and the primary object is missing, holds other bytes, or the
    primary region is down (then without asking it again for DOWN_SECONDS). A missing or
    wrong primary object also queues its repair (`files.repair_blob`)."""
    if blob.replicated_at is None:
        return "primary"  # no other copy to offer: the HEAD would change nothing
    if role_down("primary"):
        return "replica"
    try:
        head = object_probe(blob.storage_key, "primary")
    except storage.StorageUnavailable:
        log.warning("primary region down: blob %s served from the replica", blob.sha256[:12])
        return "replica"
    if head is not None and _looks_intact(head, blob):
        return "primary"
    log.warning("primary object of blob %s missing or wrong: served from the replica", blob.sha256[:12])
    if blob.tier == BlobTier.HOT:
        repair_queue(blob_id=blob.pk)
    return "replica"


def repair_queue(*, blob_id: int) -> bool:
    """Queue `files.repair_blob` now, unless this process queued it moments ago."""
    now = time.monotonic()
    with _memo_lock:
        if now - _repairs_queued.get(blob_id, -REPAIR_QUEUED_SECONDS) < REPAIR_QUEUED_SECONDS:
            return False
        if len(_repairs_queued) > 10_000:
            _repairs_queued.clear()
        _repairs_queued[blob_id] = now
    return _send("files.repair_blob", [blob_id])
