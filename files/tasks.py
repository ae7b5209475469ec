"""Periodic maintenance for the files app. Tasks take no model instances and are safe to run twice."""

from __future__ import annotations

import logging
import random

from celery import shared_task
from celery.signals import worker_process_init

from files.services import direct, orphans, trash

log = logging.getLogger(__name__)

MAINTENANCE = {"acks_late": True, "ignore_result": True}


@shared_task(name="files.trash_purge_expired", **MAINTENANCE)
def trash_purge_expired() -> int:
    return trash.trash_purge_expired()


@shared_task(name="files.upload_sessions_expire", **MAINTENANCE)
def upload_sessions_expire() -> int:
    return direct.upload_sessions_expire()


@shared_task(name="files.orphan_sweep", **MAINTENANCE)
def orphan_sweep() -> int:
    return orphans.orphan_sweep()


@shared_task(name="files.requeue_stale_processing", **MAINTENANCE)
def requeue_stale_processing() -> int:
    """Queue processing for files stuck in pending or processing (a broker down at upload, a lost worker)."""
    from files.processing.pipeline import processing_requeue_stale

    return processing_requeue_stale()


# The hard time limit must stay below PROCESSING_STALE_MINUTES (a system check says so), or
# the stale sweep could queue a file a task is still working on. A task stopped there, or
# whose worker is lost (reject_on_worker_lost queues it again at once), is counted on the
# version; PROCESSING_MAX_ATTEMPTS of those fail it (files/processing/pipeline.py).
@shared_task(
    bind=True,
    name="files.process_file",
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=6,
    soft_time_limit=300,
    time_limit=360,
)
def process_file(self, file_id: str, version_id: int | None = None) -> str:
    """Make renditions, metadata, text and labels for the file's version `version_id`, if still
    current (None, in tasks queued before they named the version: whichever is current)."""
    from files.processing.pipeline import TRANSIENT_ERRORS, file_crashed, file_failed, file_process

    try:
        return file_process(file_id=file_id, version_id=version_id)
    except TRANSIENT_ERRORS as exc:
        # Transient: storage or database away. Retry with exponential backoff and jitter.
        if self.request.retries >= self.max_retries:
            log.warning("processing %s: %r after %d retries; giving up", file_id, exc, self.max_retries)
            file_failed(
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
        file_crashed(file_id=file_id, version_id=version_id)
        return "failed"


@worker_process_init.connect
def _remove_stale_downloads(**kwargs) -> None:
    from files.processing.pipeline import remove_stale_downloads

    remove_stale_downloads()


@worker_process_init.connect
def _load_label_model(**kwargs) -> None:
    """Load the label model in each worker process (onnxruntime sessions do not survive fork)."""
    from files.processing.labels import RUNTIME_ERRORS, LabelsUnavailable, warm_up

    try:
        warm_up()
    except (LabelsUnavailable, *RUNTIME_ERRORS) as exc:
        log.warning("labels unavailable in this worker: %s", exc)


@shared_task(name="files.reindex_tenant", **MAINTENANCE)
def reindex_tenant(tenant_id: str) -> int:
    """Recompute a tenant's search vectors (after its search language changed)."""
    from files.search import reindex

    return reindex(tenant_id=tenant_id)
