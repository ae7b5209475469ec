"""The processing state of files: pending → processing → completed | failed, and the queue.

Every status write lands only if the file still points at the version it is about, so a
task redelivered after its worker died, or one for a version replaced meanwhile, changes
nothing. A version whose runs never come back (stopped at the hard time limit, which C code
in a decoder can run into without the soft limit interrupting it; a worker killed or lost)
is failed after PROCESSING_MAX_ATTEMPTS of them, by its next delivery or the stale sweep.

The work itself is `files.services.processing_run`, imported by workers only: it loads the
native libraries (OpenCV, onnxruntime, PDFium) that web processes never need. This module
stays light, since every upload imports it to queue its file.
"""

from __future__ import annotations

import functools
import logging
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from celery import current_app
from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from files import storage
from files.models import Blob, File, FileStatus, FileVersion, OcrPage
from files.processing.errors import ContentRefused
from files.processing.limits import Limits
from files.processing.sniff import DEFAULT_ALLOWED, Sniffed, extension_mismatch, sniff
from files.selectors import type_group
from files.services.file_events import file_event_publish
from mediaportal.exceptions import UnsupportedMediaType
from mediaportal.metrics import PROCESSING_FAILURES

log = logging.getLogger(__name__)

# Errors a later attempt may get past: storage or the database away for a while. Anything
# else is the file's fault (ProcessingError) or a bug.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (storage.StorageUnavailable, OperationalError)

# The processing task's time limits (files.tasks.process_file), read as workers start. At the
# soft one the run fails with `processing_timed_out`; the hard one stops what the soft one
# could not interrupt (C code in a decoder). The hard one must stay below
# PROCESSING_STALE_MINUTES (system check files.E001), or the stale sweep could queue a file
# that a task is still working on.
TASK_SOFT_TIME_LIMIT: int = settings.PROCESSING_SOFT_TIME_LIMIT
TASK_TIME_LIMIT: int = settings.PROCESSING_TIME_LIMIT


def processing_limits() -> Limits:
    """The processing library's limits from the settings, as they are now."""
    return Limits(
        max_pixels=settings.PROCESSING_MAX_PIXELS,
        max_side=settings.PROCESSING_MAX_SIDE,
        max_text_chars=settings.PROCESSING_MAX_TEXT_CHARS,
        max_unzipped_bytes=settings.PROCESSING_MAX_UNZIPPED_BYTES,
        max_svg_bytes=settings.PROCESSING_MAX_SVG_BYTES,
        max_svg_uses=settings.PROCESSING_MAX_SVG_USES,
        max_xml_elements=settings.PROCESSING_MAX_XML_ELEMENTS,
        allowed_types=frozenset(settings.ALLOWED_CONTENT_TYPES or DEFAULT_ALLOWED),
        model_cache_dir=Path(settings.MODEL_CACHE_DIR),
        labels_retry_minutes=settings.LABELS_RETRY_MINUTES,
        ocr_max_pages=settings.OCR_MAX_PAGES,
        ocr_time_limit_seconds=settings.OCR_TIME_LIMIT_SECONDS,
        ocr_max_page_pixels=settings.OCR_MAX_PAGE_PIXELS,
    )


def upload_sniff(*, file: BinaryIO, name: str) -> Sniffed:
    """The real type of uploaded bytes; 415 `unsupported_media_type` for a kind not accepted."""
    try:
        return sniff(file, name, processing_limits())
    except ContentRefused as exc:
        raise UnsupportedMediaType(exc.message, code="unsupported_media_type") from None


def processing_start(*, file_id, version_id: int) -> bool:
    """Mark the file `processing` and count the run; False if another version is current now."""
    with transaction.atomic():
        # The file's row first, as everywhere else: a version is only touched with it locked.
        started = File.objects.filter(pk=file_id, current_version_id=version_id).update(
            status=FileStatus.PROCESSING, updated_at=timezone.now()
        )
        if started:
            FileVersion.objects.filter(pk=version_id).update(processing_attempts=F("processing_attempts") + 1)
    return bool(started)


def processing_uncount(*, version_id: int) -> None:
    """Uncount a run that came back with a transient error: its retries are bounded on their own."""
    try:
        FileVersion.objects.filter(pk=version_id, processing_attempts__gt=0).update(
            processing_attempts=F("processing_attempts") - 1
        )
    except DatabaseError:
        pass  # the database is what is away: the run stays counted, one of several allowed


def processing_complete(
    *,
    file: File,
    version_id: int,
    metadata: dict,
    labels: list[dict],
    text: str,
    ocr_pages: list[dict] | None = None,
    ocr_engine: str = "",
) -> bool:
    """Store what the run of `version_id` found, unless another version is current by now.

    `metadata`, `labels`, the text and the OCR pages (`{"number", "width", "height", "lines",
    "confidence"}`, read by `ocr_engine`) replace the earlier ones as a whole: they describe
    the current version's bytes, so nothing of another version or an earlier run survives.
    The one key kept is `extension_mismatch`, about the name as much as the content.
    """
    pages = [
        OcrPage(
            tenant_id=file.tenant_id,
            version_id=version_id,
            text="\n".join(line["text"] for line in page["lines"]),
            engine=ocr_engine[:80],
            **page,
        )
        for page in ocr_pages or ()
    ]
    return _finish(
        _version(file.pk, version_id),
        status=FileStatus.COMPLETED,
        ocr_pages=pages,
        metadata={**_file_metadata(file, file.current_version.blob), **metadata},
        labels=labels,
        content_text=text,
        ocr_text="\n\n".join(page.text for page in pages if page.text),
    )


def processing_fail(*, file_id, version_id: int, code: str, message: str) -> bool:
    """Fail the file for a broken `version_id` (unless another is current by now)."""
    return _fail(_version(file_id, version_id), code=code, message=message)


def processing_time_out(*, file_id, version_id: int) -> bool:
    """Fail the file whose `version_id` had PROCESSING_MAX_ATTEMPTS runs that never came back."""
    return _fail(_version(file_id, version_id), **_timed_out())


def _version(file_id, version_id: int) -> QuerySet[File]:
    return File.objects.filter(pk=file_id, current_version_id=version_id)


def _finish(
    files: QuerySet[File],
    *,
    status: str,
    error: str = "",
    error_code: str = "",
    ocr_pages: list[OcrPage] = (),
    **fields,
) -> bool:
    """Give the file of `files` its outcome, if it still matches once locked; False if not.

    `files` names the version the outcome is for (`current_version_id=`): a newer version
    uploaded meanwhile has its own task, and this result is stale then. A failure writes
    what nothing found leaves (`_nothing_found`) under the fields given, and is counted in
    mediaportal_processing_failures (every way a run fails ends here).
    """
    with transaction.atomic():
        locked = (
            files.select_for_update(of=("self",))
            .select_related("current_version__blob")
            .filter(current_version__isnull=False)
            .first()
        )
        if locked is None:
            return False
        if status == FileStatus.FAILED:
            fields = {**_nothing_found(locked, locked.current_version.blob), **fields}
        locked.status, locked.error, locked.error_code = status, error[:2000], error_code
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.save(update_fields=["status", "error", "error_code", *fields, "updated_at"])
        OcrPage.objects.filter(version_id=locked.current_version_id).delete()
        OcrPage.objects.bulk_create(ocr_pages)
        if status == FileStatus.FAILED:
            file_event_publish(event="file.failed", file=locked, error_code=error_code)
        else:
            file_event_publish(event="file.completed", file=locked)
        # An outcome: a reprocess later gets its full number of attempts.
        FileVersion.objects.filter(pk=locked.current_version_id).update(processing_attempts=0)
    if status == FileStatus.FAILED:
        group = type_group(locked.current_version.blob.content_type)
        PROCESSING_FAILURES.labels(type=group, code=error_code or "unknown").inc()
    return True


def _file_metadata(file: File, blob: Blob) -> dict:
    """The metadata keys that do not come from analysing the content (see `processing_complete`)."""
    return {"extension_mismatch": extension_mismatch(content_type=blob.content_type, name=file.name)}


def _nothing_found(file: File, blob: Blob) -> dict:
    return {"metadata": _file_metadata(file, blob), "labels": [], "content_text": "", "ocr_text": ""}


def _processing(file_id, version_id: int | None) -> QuerySet[File]:
    """The file, while it is `processing` the version (None: any version)."""
    files = File.objects.filter(pk=file_id, status=FileStatus.PROCESSING)
    return files if version_id is None else files.filter(current_version_id=version_id)


def file_processing_interrupted(*, file_id, version_id: int | None = None) -> None:
    """Put a file whose processing a transient error broke off back to `pending`, so a rerun or
    the stale-processing sweep takes it up again instead of it showing `processing` for ever."""
    _processing(file_id, version_id).update(status=FileStatus.PENDING, updated_at=timezone.now())


def file_crashed(*, file_id, version_id: int | None = None) -> None:
    """Fail a file whose processing raised what no parser anticipated (log the traceback first)."""
    file_failed(
        file_id=file_id,
        version_id=version_id,
        code="processing_error",
        message="Processing failed unexpectedly; the error was logged.",
    )


def file_failed(*, file_id, version_id: int | None, code: str, message: str) -> None:
    """Mark a file whose processing of `version_id` broke off `failed`, as if nothing had been found.

    Only while it is `processing` that version: a version uploaded meanwhile has its own task,
    which decides its outcome, whether it is still pending or already at work. None stands for
    whichever version is current (a task queued before tasks named their version).
    """
    _fail(_processing(file_id, version_id), code=code, message=message)


def processing_timed_out_now() -> dict[str, str]:
    """The outcome of a run stopped at the soft time limit."""
    return {
        "code": "processing_timed_out",
        "message": (
            f"Processing took longer than {TASK_SOFT_TIME_LIMIT} seconds and was stopped; the file may be too "
            "complex to process. Reprocess to try again."
        ),
    }


def _timed_out() -> dict[str, str]:
    return {
        "code": "processing_timed_out",
        "message": (
            f"Processing did not finish in {settings.PROCESSING_MAX_ATTEMPTS} attempts (each ran out of time or "
            "lost its worker); the file may be too complex to process. Reprocess to try again."
        ),
    }


def _fail(files: QuerySet[File], *, code: str, message: str) -> bool:
    """Fail the file of `files` (if it still matches once locked) as if nothing had been found."""
    return _finish(files, status=FileStatus.FAILED, error=message, error_code=code)


# --- Queueing -------------------------------------------------------------------------------


def queue_processing(file: File) -> None:
    """Hand the file's current version to a worker once the transaction commits.

    The upload is stored by then, so a broker that is down must not turn it into an error:
    the failure is logged, the file stays `pending`, and processing_requeue_stale queues it
    once it has waited PROCESSING_STALE_MINUTES.
    """
    transaction.on_commit(functools.partial(_send, str(file.pk), file.current_version_id), robust=True)


def processing_queue_now(*, file_id, version_id: int) -> bool:
    """Set the file `pending` and queue its processing at once (no transaction to wait for);
    False (logged) when the broker cannot be reached: the stale sweep queues it later."""
    # Pending first: the task leaves a completed or failed version alone.
    File.objects.filter(pk=file_id).update(
        status=FileStatus.PENDING, error="", error_code="", updated_at=timezone.now()
    )
    return _send(str(file_id), version_id)


def _send(file_id: str, version_id: int) -> bool:
    """Queue the processing task now; False (logged) when the broker cannot be reached."""
    try:
        # By name: the task module imports this one, so this one never imports it.
        current_app.send_task("files.process_file", args=[file_id, version_id])
    except KombuOperationalError as exc:
        log.warning("could not queue processing of %s (%s); the stale-processing sweep will", file_id, exc)
        return False
    return True


def processing_requeue_stale(*, older_than: timedelta | None = None) -> int:
    """Queue processing again for files `pending` or `processing` for longer than
    PROCESSING_STALE_MINUTES; returns how many were queued.

    Such a file's task never reached the broker (it was down at upload) or was lost with its
    worker. A file being worked on is never taken for stuck: a task's hard time limit is
    shorter than the period (a system check says so), and every attempt, retries included,
    touches `updated_at`. A queued file gets a fresh `updated_at`, so a long queue makes at
    most one extra message per file and period; the task is idempotent anyway. A version
    whose PROCESSING_MAX_ATTEMPTS runs all never came back is failed instead: queued again, it
    would only run into the time limit again.
    """
    if older_than is None:
        older_than = timedelta(minutes=settings.PROCESSING_STALE_MINUTES)
    cutoff = timezone.now() - older_than
    stale = list(
        File.objects.filter(
            status__in=[FileStatus.PENDING, FileStatus.PROCESSING],
            updated_at__lt=cutoff,
            deleted_at__isnull=True,
            current_version__isnull=False,
        )
        .order_by("updated_at")
        .values_list("id", "status", "updated_at", "current_version_id", "current_version__processing_attempts")
    )
    queued = failed = 0
    for file_id, status, updated_at, version_id, attempts in stale:
        # Unless a task has taken the file meanwhile (or a new version came): nothing is at work on it.
        untouched = File.objects.filter(pk=file_id, status=status, updated_at=updated_at, current_version_id=version_id)
        if attempts >= settings.PROCESSING_MAX_ATTEMPTS:
            failed += _fail(untouched, **_timed_out())
            continue
        if not _send(str(file_id), version_id):
            break  # the broker is down: the next sweep tries them all again
        queued += 1
        untouched.update(status=FileStatus.PENDING, updated_at=timezone.now())
    if stale:
        log.info(
            "requeued %d of %d files stuck in pending or processing; %d failed after %d attempts",
            queued,
            len(stale),
            failed,
            settings.PROCESSING_MAX_ATTEMPTS,
        )
    return queued
