"""The files app's Celery tasks: processing and periodic maintenance.

Each task takes ids, not model instances, calls one service and is safe to run twice.
Services queue tasks by name, so this module imports them and never the other way round.
"""

from __future__ import annotations

import logging
import random
import time

from celery import shared_task
from celery.signals import worker_process_init
from django.conf import settings

from files import storage
from files.search import get_search_backend
from files.services import (
    direct,
    exports,
    idempotency,
    lifecycle,
    manifests,
    orphans,
    processing,
    processing_run,
    replication,
    retrieval,
    scrub,
    trash,
)
from files.storage import StorageUnavailable

log = logging.getLogger(__name__)

MAINTENANCE = {"acks_late": True, "ignore_result": True}


@shared_task(name="files.trash_purge_expired", **MAINTENANCE)
def trash_purge_expired() -> int:
    return trash.trash_purge_expired()


@shared_task(name="files.upload_sessions_expire", **MAINTENANCE)
def upload_sessions_expire() -> int:
    return direct.upload_sessions_expire()


@shared_task(name="files.upload_keys_expire", **MAINTENANCE)
def upload_keys_expire() -> int:
    return idempotency.upload_keys_expire()


@shared_task(name="files.orphan_sweep", **MAINTENANCE)
def orphan_sweep() -> int:
    return orphans.orphan_sweep()


@shared_task(name="files.write_manifests", **MAINTENANCE)
def write_manifests() -> dict[str, int]:
    """Each tenant's manifest object in the primary bucket and the replica (restore_from_bucket)."""
    return manifests.manifests_write()


@shared_task(name="files.requeue_stale_processing", **MAINTENANCE)
def requeue_stale_processing() -> int:
    """Queue processing for files stuck in pending or processing (a broker down at upload, a lost worker)."""
    return processing.processing_requeue_stale()


# A run stopped at the hard time limit, or whose worker is lost (reject_on_worker_lost queues
# it again at once), is counted on the version; PROCESSING_MAX_ATTEMPTS of those fail it
# (files/services/processing.py, which also holds the limits and says why they are bounded).
@shared_task(
    bind=True,
    name="files.process_file",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=6,
    soft_time_limit=processing.TASK_SOFT_TIME_LIMIT,
    time_limit=processing.TASK_TIME_LIMIT,
)
def process_file(self, file_id: str, version_id: int | None = None) -> str:
    """Make renditions, metadata, text and labels for the file's version `version_id`, if still
    current (None, in tasks queued before they named the version: whichever is current)."""
    try:
        return processing_run.file_process(file_id=file_id, version_id=version_id)
    except processing.TRANSIENT_ERRORS as exc:
        # Transient: storage or database away. Retry with exponential backoff and jitter.
        if self.request.retries >= self.max_retries:
            log.warning("processing %s: %r after %d retries; giving up", file_id, exc, self.max_retries)
            processing.file_failed(
                file_id=file_id,
                version_id=version_id,
                code="storage_unavailable",
                message="Storage stayed unavailable; reprocess later.",
            )
            raise
        attempt = self.request.retries + 1
        countdown = min(600, 2**attempt) + random.uniform(0, 1)
        log.warning(
            "processing %s: %r; retry %d of %d in %.1f s",
            file_id,
            exc,
            attempt,
            self.max_retries,
            countdown,
            extra={"attempt": attempt, "countdown": countdown},
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
    except Exception:
        # A bug or an input no parser anticipated: the file says so instead of staying "processing".
        log.exception("processing %s crashed", file_id)
        processing.file_crashed(file_id=file_id, version_id=version_id)
        return "failed"


@worker_process_init.connect
def _remove_stale_downloads(**kwargs) -> None:
    processing_run.remove_stale_downloads()


@worker_process_init.connect
def _load_label_model(**kwargs) -> None:
    processing_run.labels_warm_up()
    processing_run.ocr_warm_up()


@shared_task(name="files.reindex_tenant", **MAINTENANCE)
def reindex_tenant(tenant_id: str) -> int:
    """Recompute a tenant's search vectors (after its search language changed)."""
    return get_search_backend().reindex(tenant_id=tenant_id)


@shared_task(name="files.archive_sweep", **MAINTENANCE)
def archive_sweep() -> int:
    """Move the blobs nobody touched for long enough to the archive (daily)."""
    return lifecycle.archive_sweep().archived


@shared_task(name="files.archive_release_primary", **MAINTENANCE)
def archive_release_primary(blob_ids: list[int]) -> int:
    """Delete the primary objects of blobs archived a grace ago (queued with that countdown)."""
    return lifecycle.archive_primaries_release(blob_ids=blob_ids)


# A Glacier restore takes hours (Bulk: up to 12, DEEP_ARCHIVE: 48); polled for up to a week.
RETRIEVE_POLLS = 7 * 86400 // max(settings.ARCHIVE_RESTORE_POLL_SECONDS, 1)


@shared_task(bind=True, name="files.retrieve_blob", max_retries=RETRIEVE_POLLS, **MAINTENANCE)
def retrieve_blob(self, blob_id: int) -> str:
    """Bring an archived blob back to the primary: ask for its restore, poll until it can be
    read, copy it back (files.services.retrieval)."""
    try:
        outcome = retrieval.blob_retrieve(blob_id=blob_id)
    except storage.StorageUnavailable as exc:
        raise self.retry(exc=exc, countdown=min(600, 2 ** (self.request.retries + 1))) from exc
    if outcome == retrieval.WAITING:
        log.info("retrieval of blob %s: the archive's restore is not done; asking again later", blob_id)
        raise self.retry(countdown=settings.ARCHIVE_RESTORE_POLL_SECONDS)
    return outcome


@shared_task(name="files.run_export", **MAINTENANCE)
def run_export(export_id: str) -> str:
    """Make a tenant export's ZIP (safe to deliver twice: a second delivery finds it claimed
    or done and leaves it)."""
    return exports.export_run(export_id=export_id)


@shared_task(name="files.exports_expire", **MAINTENANCE)
def exports_expire() -> int:
    return exports.exports_expire()


# --- The replica region (queue `replication`) ---------------------------------------------

# A region down: retried with exponential backoff and jitter for about an hour and a half
# (30 s doubling to 30 min); what is still not copied by then, the hourly reconcile copies.
REPLICATION_RETRIES = 8


def _backoff(task) -> float:
    return min(1800, 30 * 2**task.request.retries) + random.uniform(0, 5)


def _retried(task, what: str, call) -> str:
    """Run `call`; a region down ("unavailable", or StorageUnavailable) is retried later."""
    try:
        outcome = call()
    except StorageUnavailable as exc:
        outcome, error = "unavailable", exc
    else:
        error = StorageUnavailable()
    if outcome != "unavailable":
        return outcome
    if task.request.retries >= task.max_retries:
        log.warning("%s: storage still unavailable after %d retries; the reconcile takes it", what, task.max_retries)
        return outcome
    countdown = _backoff(task)
    log.warning("%s: storage unavailable; retry in %.0f s", what, countdown, extra={"countdown": countdown})
    raise task.retry(exc=error, countdown=countdown)


REPLICATION = {"bind": True, "acks_late": True, "ignore_result": True, "max_retries": REPLICATION_RETRIES}


@shared_task(name="files.replicate_blob", **REPLICATION)
def replicate_blob(self, blob_id: int) -> str:
    """Copy a new blob to the replica region."""
    return _retried(self, f"replicating blob {blob_id}", lambda: replication.blob_replicate(blob_id=blob_id))


@shared_task(name="files.replicate_rendition", **REPLICATION)
def replicate_rendition(self, rendition_ids: list[int]) -> str:
    """Copy new renditions (rows naming one object share one copy) to the replica region."""
    return _retried(
        self,
        f"replicating renditions {rendition_ids}",
        lambda: str(replication.renditions_replicate(rendition_ids=rendition_ids)),
    )


@shared_task(name="files.repair_blob", **REPLICATION)
def repair_blob(self, blob_id: int) -> str:
    """Rewrite a blob's missing or damaged object from an intact copy (a download found it)."""
    return _retried(self, f"repairing blob {blob_id}", lambda: scrub.blob_repair(blob_id=blob_id))


def _budget() -> float:
    """A deadline for a long sweep: before the broker would hand it to a second worker."""
    return time.monotonic() + settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] * 0.8


@shared_task(name="files.replication_reconcile", **MAINTENANCE)
def replication_reconcile() -> dict:
    return replication.replication_reconcile(deadline=_budget())


@shared_task(name="files.integrity_scrub", **MAINTENANCE)
def integrity_scrub() -> dict:
    """Re-hash every stored object, least recently verified first, and repair what it can;
    stops before the broker would hand the task to another worker (the next run goes on)."""
    report = scrub.scrub(blob_ids=scrub.scrub_plan(), repair=True, deadline=_budget())
    for note in report.notes:
        log.warning("integrity scrub: %s", note)
    return {name: value for name, value in vars(report).items() if name != "notes"}
