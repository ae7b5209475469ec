"""The integrity scrub: stored objects read back and re-hashed (SHA-256), a missing or
damaged one rewritten from an intact copy, and a blob with no intact copy left flagged.

A blob's home is the primary bucket while it is hot and the archive bucket otherwise; its
replica copy is checked once `replicated_at` says it is there (or when the home copy is
bad: a copy not yet marked may still save it). A repair reads the row and the copies again
under the content lock (the blob lock protocol, files.services.blobs), so a purge's deletes
wait for it and nothing is written back after them. A rendition with no intact copy is
made again by processing rather than flagged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Tenant
from accounts.services.audit import event_record
from files import storage
from files.models import Blob, BlobTier, File, Rendition
from files.services.locks import content_lock
from files.services.processing import processing_queue_now
from files.storage.transfer import ObjectCorrupt, ObjectMissing, object_transfer, object_verify

log = logging.getLogger(__name__)

OK, MISSING, CORRUPT, COLD, DOWN = "ok", "missing", "corrupt", "cold", "unavailable"
BAD = (MISSING, CORRUPT)
# Blobs read per batch, and how many objects are read at once: small objects cost a round
# trip each, which threads overlap (reads wait on sockets, not the GIL).
SCRUB_BATCH = 200
SCRUB_THREADS = 4


@dataclass
class ScrubReport:
    """What a scrub found: counts of blobs (and rendition objects) by outcome."""

    blobs: int = 0
    renditions: int = 0
    bytes_read: int = 0
    intact: int = 0
    repaired: int = 0
    lost: int = 0  # no intact copy left: flagged for admins
    unrepaired: int = 0  # damaged, not repaired (no --repair, or the repair failed)
    unavailable: int = 0  # a region was down: not verified this time
    cold: int = 0  # in a cold storage class: not readable without a restore
    regenerating: int = 0  # renditions lost everywhere, queued for processing
    stopped: bool = False  # ran out of time; the next run starts with what is left
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Everything found was intact or has been repaired."""
        return not (self.lost or self.unrepaired or self.unavailable)


def _state(key: str, role: str, sha256: str) -> str:
    try:
        return object_verify(key, role=role, sha256=sha256)
    except storage.ObjectArchived:
        return COLD
    except storage.StorageUnavailable:
        return DOWN


def _home(blob: Blob) -> str:
    return "primary" if blob.tier == BlobTier.HOT else "archive"


def _blob_states(blob: Blob) -> dict[str, str]:
    """The state of each copy of the blob worth reading (see the module's docstring)."""
    home = _home(blob)
    states = {home: _state(blob.storage_key, home, blob.sha256)}
    if blob.replicated_at is not None or states[home] != OK:
        states["replica"] = _state(blob.storage_key, "replica", blob.sha256)
    return states


def _bad_roles(blob: Blob, states: dict[str, str]) -> list[str]:
    """The copies to rewrite: the home one when damaged or gone; the replica's when it is
    damaged, or gone although `replicated_at` says it was made."""
    bad = [role for role in (_home(blob),) if states[role] in BAD]
    replica = states.get("replica")
    if replica == CORRUPT or (replica == MISSING and blob.replicated_at is not None):
        bad.append("replica")
    return bad


def _good_source(blob: Blob, states: dict[str, str]) -> str | None:
    """An intact copy to repair from: one already read, else the other bucket of the
    primary region (a move between primary and archive may have left one there)."""
    for role, state in states.items():
        if state == OK:
            return role
    other = "archive" if _home(blob) == "primary" else "primary"
    return other if _state(blob.storage_key, other, blob.sha256) == OK else None


def _file_events(blob: Blob, verb: str, data: dict) -> None:
    """One event per file using the blob (any version, trashed ones too), in the caller's
    transaction."""
    for file in File.objects.filter(versions__blob_id=blob.pk).select_related("tenant").distinct():
        event_record(verb=verb, tenant=file.tenant, target=file, data={"sha256": blob.sha256, **data})


def _flag_lost(blob: Blob, states: dict[str, str]) -> bool:
    """Flag the blob lost, with an `integrity_lost` event per file, unless it is already
    flagged (the weekly scrub finds it again, and says so once)."""
    with transaction.atomic():
        flagged = Blob.objects.filter(pk=blob.pk, integrity_lost_at__isnull=True).update(
            integrity_lost_at=timezone.now()
        )
        if flagged:
            _file_events(blob, "integrity_lost", {"copies": states})
    if flagged:
        log.error("blob %s of tenant %s: no intact copy left (%s)", blob.sha256[:12], blob.tenant_id, states)
    return bool(flagged)


def _mark_intact(blob_ids: list[int]) -> None:
    # An intact copy found again (an admin put the object back) also ends a loss.
    if blob_ids:
        Blob.objects.filter(pk__in=blob_ids).update(verified_at=timezone.now(), integrity_lost_at=None)


def _rewrite(*, key: str, source: str, target: str, sha256: str, content_type: str, tenant_id) -> None:
    object_transfer(
        key=key,
        source=source,
        target=target,
        sha256=sha256,
        content_type=content_type,
        tenant_id=tenant_id,
    )


def blob_repair(*, blob_id: int) -> str:
    """Read the blob's copies again under its content lock and rewrite each missing or
    damaged one from an intact copy (an `integrity_repaired` event per file using it), or
    flag the blob lost when none is left. Returns "intact", "repaired", "lost", "gone",
    "cold", "unavailable" (a region down: try again later) or "failed"."""
    blob = Blob.objects.filter(pk=blob_id).first()
    if blob is None:
        return "gone"
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        blob = Blob.objects.filter(pk=blob_id).first()  # again, under the lock
        if blob is None:
            return "gone"
        states = _blob_states(blob)
        if DOWN in states.values() or states[_home(blob)] == COLD:
            return DOWN if DOWN in states.values() else COLD
        bad = _bad_roles(blob, states)
        if not bad:
            _mark_intact([blob.pk])
            return "intact"
        source = _good_source(blob, states)
        if source is None:
            _flag_lost(blob, states)
            return "lost"
        try:
            for target in bad:
                _rewrite(
                    key=blob.storage_key,
                    source=source,
                    target=target,
                    sha256=blob.sha256,
                    content_type=blob.content_type,
                    tenant_id=blob.tenant_id,
                )
        except storage.StorageUnavailable:
            return DOWN
        except (ObjectMissing, ObjectCorrupt, storage.ObjectChanged) as exc:
            log.warning("blob %s: repair from the %s bucket failed: %r", blob.sha256[:12], source, exc)
            return "failed"
        now = timezone.now()
        fields = {"verified_at": now, "integrity_lost_at": None}
        if blob.replicated_at is None and ("replica" in bad or states.get("replica") == OK):
            fields["replicated_at"] = now  # the replica holds it now, whether or not a copy task said so
        Blob.objects.filter(pk=blob.pk).update(**fields)
        _file_events(blob, "integrity_repaired", {"repaired": bad, "source": source})
    log.warning("blob %s: %s rewritten from the %s bucket", blob.sha256[:12], ", ".join(bad), source)
    return "repaired"


# --- Renditions -------------------------------------------------------------------------------


def _stored_sha256(key: str) -> str | None:
    """The SHA-256 a rendition object was written with (rows older than Rendition.sha256
    have none), from whichever copy still answers."""
    for role in ("primary", "replica"):
        try:
            head = storage.object_head(key, role)
        except storage.StorageUnavailable:
            continue
        if head and head.get("Metadata", {}).get("sha256"):
            return head["Metadata"]["sha256"]
    return None


def _rendition_states(key: str, sha256: str | None, replicated: bool) -> dict[str, str]:
    if sha256 is None:
        return {"primary": MISSING}
    states = {"primary": _state(key, "primary", sha256)}
    if replicated or states["primary"] != OK:
        states["replica"] = _state(key, "replica", sha256)
    return states


def _rendition_regenerate(blob: Blob) -> int:
    """Queue processing of the files whose current version has this blob (it writes every
    rendition again); returns how many. Renditions of an older version are made again
    when it becomes current once more."""
    files = File.objects.filter(current_version__blob_id=blob.pk, deleted_at__isnull=True)
    return sum(
        processing_queue_now(file_id=file_id, version_id=version_id)
        for file_id, version_id in files.values_list("pk", "current_version_id")
    )


def _rendition_fix(blob: Blob, rows: list[Rendition], sha256: str | None, states: dict[str, str]) -> str:
    replicated = any(row.replicated_at for row in rows)
    replica = states.get("replica")
    bad = [role for role in ("primary",) if states[role] in BAD]
    if replica == CORRUPT or (replica == MISSING and replicated):
        bad.append("replica")
    source = next((role for role, state in states.items() if state == OK), None)
    if source is None:
        return "regenerating" if _rendition_regenerate(blob) else "unrepaired"
    key = rows[0].storage_key
    with transaction.atomic():
        content_lock(tenant_id=blob.tenant_id, sha256=blob.sha256)
        if not Rendition.objects.filter(blob_id=blob.pk, storage_key=key).exists():
            return "gone"  # purged meanwhile: its objects go with it
        for target in bad:
            _rewrite(
                key=key,
                source=source,
                target=target,
                sha256=sha256,
                content_type=f"image/{rows[0].format}",
                tenant_id=blob.tenant_id,
            )
        if "replica" in bad or replica == OK:
            Rendition.objects.filter(blob_id=blob.pk, storage_key=key, replicated_at__isnull=True).update(
                replicated_at=timezone.now()
            )
    log.warning("rendition %s: %s rewritten from the %s bucket", key, ", ".join(bad), source)
    return "repaired"


def _rendition_checks(blob: Blob) -> list[tuple[list[Rendition], str | None, dict[str, str]]]:
    """Each rendition object of the blob (rows sharing one object read once), with the
    SHA-256 it should have and its copies' states. S3 reads only: runs on scrub threads."""
    by_key: dict[str, list[Rendition]] = {}
    for row in blob.renditions.all():
        by_key.setdefault(row.storage_key, []).append(row)
    checks = []
    for rows in by_key.values():
        sha256 = rows[0].sha256 or _stored_sha256(rows[0].storage_key)
        states = _rendition_states(rows[0].storage_key, sha256, any(row.replicated_at for row in rows))
        checks.append((rows, sha256, states))
    return checks


# --- The scrub ---------------------------------------------------------------------------------


def scrub_plan(*, tenant: Tenant | None = None, sample: int | None = None) -> list[int]:
    """The blobs to scrub: `sample` random ones, else all, the least recently verified first
    (a run stopped by its deadline is taken up where it stopped)."""
    blobs = Blob.objects.all() if tenant is None else Blob.objects.filter(tenant=tenant)
    if sample:
        return list(blobs.order_by("?").values_list("pk", flat=True)[:sample])
    return list(blobs.order_by(F("verified_at").asc(nulls_first=True), "pk").values_list("pk", flat=True))


def _read(blob: Blob) -> tuple[dict[str, str], list]:
    return _blob_states(blob), _rendition_checks(blob)


def scrub(
    *,
    blob_ids: list[int],
    repair: bool = False,
    deadline: float | None = None,
    progress: Callable[[Blob], None] | None = None,
) -> ScrubReport:
    """Verify the blobs (and their renditions) in `blob_ids`; with `repair`, rewrite what is
    missing or damaged from an intact copy. A blob with no intact copy is flagged lost either
    way. Stops before the next batch once `deadline` (time.monotonic()) has passed."""
    report = ScrubReport()
    with ThreadPoolExecutor(max_workers=SCRUB_THREADS, thread_name_prefix="scrub") as pool:
        for start in range(0, len(blob_ids), SCRUB_BATCH):
            if deadline is not None and time.monotonic() > deadline:
                report.stopped = True
                break
            blobs = list(
                Blob.objects.filter(pk__in=blob_ids[start : start + SCRUB_BATCH]).prefetch_related("renditions")
            )
            intact = []
            for blob, (states, renditions) in zip(blobs, pool.map(_read, blobs), strict=True):
                if _blob_outcome(blob, states, repair=repair, report=report):
                    intact.append(blob.pk)
                for rows, sha256, rendition_states in renditions:
                    _rendition_outcome(blob, rows, sha256, rendition_states, repair=repair, report=report)
                if progress:
                    progress(blob)
            _mark_intact(intact)
    log.info("scrub: %s", {k: v for k, v in vars(report).items() if k != "notes"})
    return report


def _blob_outcome(blob: Blob, states: dict[str, str], *, repair: bool, report: ScrubReport) -> bool:
    """Count (and with `repair`, repair) what was read of one blob; True when intact."""
    report.blobs += 1
    report.bytes_read += blob.size * sum(state in (OK, CORRUPT) for state in states.values())
    if DOWN in states.values():
        report.unavailable += 1
        return False
    if states[_home(blob)] == COLD:
        report.cold += 1
        return False
    if not _bad_roles(blob, states):
        report.intact += 1
        return True
    outcome = blob_repair(blob_id=blob.pk) if repair else None
    if outcome is None:
        if _good_source(blob, states) is None:
            _flag_lost(blob, states)
            outcome = "lost"
        else:
            outcome = "unrepaired"
    counted = {"repaired": "repaired", "lost": "lost", "intact": "intact", DOWN: "unavailable", COLD: "cold"}
    if outcome != "gone":
        name = counted.get(outcome, "unrepaired")
        setattr(report, name, getattr(report, name) + 1)
        if name != "intact":
            report.notes.append(f"{name:11} blob {blob.sha256} (tenant {blob.tenant_id}): {states}")
    return False


def _rendition_outcome(blob: Blob, rows, sha256, states: dict[str, str], *, repair: bool, report: ScrubReport) -> None:
    report.renditions += 1
    if DOWN in states.values():
        report.unavailable += 1
        return
    replicated = any(row.replicated_at for row in rows)
    replica = states.get("replica")
    if states["primary"] == OK and not (replica == CORRUPT or (replica == MISSING and replicated)):
        return
    try:
        outcome = _rendition_fix(blob, rows, sha256, states) if repair else "unrepaired"
    except storage.StorageUnavailable:
        outcome = "unavailable"
    except (ObjectMissing, ObjectCorrupt, storage.ObjectChanged):
        outcome = "unrepaired"
    if outcome in ("repaired", "regenerating", "unrepaired", "unavailable"):
        setattr(report, outcome, getattr(report, outcome) + 1)
        report.notes.append(f"{outcome:11} rendition {rows[0].storage_key}: {states}")
