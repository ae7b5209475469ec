"""One file through processing: pending → processing → completed | failed.

Safe to run twice (a redelivered task after a worker died): renditions are written under
fixed keys and recorded with get_or_create on (blob, kind, format), and every status write
only lands if the file still points at the version that was processed. A version whose runs
never come back (stopped at the hard time limit, which C code in a decoder or filter can run
into without the soft limit interrupting it; a worker killed or lost) is failed after
PROCESSING_MAX_ATTEMPTS of them, by its next delivery or the stale sweep, instead of going
round for ever.

Each run replaces `metadata`, `labels` and the extracted text as a whole: they describe the
current version's bytes, so nothing of an earlier version (its GPS position, its camera) or
of an earlier run (`labels_unavailable`) survives. The one key kept is `extension_mismatch`,
which is about the file (its name) as much as the content; it is recomputed from both, since a
new version can change the answer. A failed file has only that key, no labels and no text.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from files import storage
from files.models import Blob, File, FileStatus, FileVersion, Rendition
from files.processing.errors import ProcessingError
from files.processing.sniff import extension_mismatch

log = logging.getLogger(__name__)

IMAGE_TYPES_WITHOUT_RASTER = {"image/svg+xml"}
DOCUMENT_PREFIXES = ("application/", "text/", "message/")


def rendition_key(blob: Blob, kind: str, fmt: str) -> str:
    return f"tenants/{blob.tenant_id}/renditions/{blob.sha256[:2]}/{blob.sha256}/{kind}.{fmt}"


# A download's temporary file holds an exclusive flock for as long as it is in use, so one
# that nobody holds is stale (its process was killed), whatever host, container or PID
# namespace made it. It is made under another name and renamed once locked, so no download
# is ever unlocked under its final name.
TEMP_PREFIX = "mp-proc-"
_NEW_PREFIX = "mp-dl-"
# A file still under its first name is only left alone this long (it is being renamed).
_NEW_GRACE_SECONDS = 60


@contextmanager
def _downloaded(blob: Blob) -> Iterator[str]:
    """The blob's bytes in a temporary file, removed on every way out: a download that fails
    half-way (storage away, a retry coming) must not leave a partial copy behind each time.
    A process killed outright leaves its file; `remove_stale_downloads` removes it later."""
    handle, path = tempfile.mkstemp(prefix=_NEW_PREFIX)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        locked = os.path.join(os.path.dirname(path), TEMP_PREFIX + os.path.basename(path)[len(_NEW_PREFIX) :])
        os.rename(path, locked)
        path = locked
        with open(handle, "wb", closefd=False) as out:
            for chunk in storage.object_chunks(blob.storage_key):
                out.write(chunk)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(handle)  # releases the lock


def remove_stale_downloads() -> int:
    """Delete the temporary downloads nobody holds any more (a worker killed by SIGKILL or
    the OOM killer mid-task); returns how many. Each worker process runs it as it starts."""
    folder = Path(tempfile.gettempdir())
    removed = 0
    for path in [*folder.glob(f"{TEMP_PREFIX}*"), *folder.glob(f"{_NEW_PREFIX}*")]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue  # gone meanwhile, or not ours to open
        try:
            if path.name.startswith(_NEW_PREFIX) and time.time() - os.fstat(fd).st_mtime < _NEW_GRACE_SECONDS:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            path.unlink(missing_ok=True)
            removed += 1
        finally:
            os.close(fd)
    if removed:
        log.info("removed %d temporary downloads left by stopped workers", removed)
    return removed


def _store_renditions(blob: Blob, renditions) -> None:
    # Identical bytes under two kinds (a 12 MP photo's optimized copy is its large WebP) are
    # stored once, and both rows name that object; a separate object an earlier run left
    # under the other kind's key is claimed by no row then, and the orphan sweep removes it.
    stored: dict[str, str] = {}  # sha256 of the bytes → their key
    for rendition in renditions:
        digest = hashlib.sha256(rendition.data).hexdigest()
        key = stored.get(digest)
        if key is None:
            key = stored[digest] = rendition_key(blob, rendition.kind, rendition.format)
            storage.object_put(
                key=key,
                body=rendition.data,
                sha256=digest,
                content_type=f"image/{rendition.format}",
                size=len(rendition.data),
            )
        Rendition.objects.update_or_create(
            blob=blob,
            kind=rendition.kind,
            format=rendition.format,
            defaults={
                "tenant_id": blob.tenant_id,
                "width": rendition.width,
                "height": rendition.height,
                "size": len(rendition.data),
                "storage_key": key,
            },
        )


def _labels_for(picture) -> tuple[list[dict], str | None]:
    """Labels and None, or no labels and why: labels are extras, so they never fail a file."""
    try:
        from files.processing.labels import RUNTIME_ERRORS, LabelsUnavailable, image_labels
    except ImportError as exc:  # pragma: no cover - a broken install
        return [], f"labels unavailable: {exc}"
    try:
        return image_labels(picture), None
    except LabelsUnavailable as exc:
        return [], f"labels unavailable: {exc}"
    except RUNTIME_ERRORS as exc:
        # The model loaded but failed on this picture (or the face detector did).
        log.warning("labelling failed: %r", exc)
        return [], f"labels unavailable: labelling failed ({exc})"


def _analyse(blob: Blob, path: str) -> dict:
    """Metadata, text, labels and renditions for the blob's bytes (already on disk at `path`)."""
    content_type = blob.content_type
    result: dict = {"metadata": {}, "text": "", "labels": [], "renditions": [], "timings": {}}
    started = time.perf_counter()
    if content_type.startswith("image/") and content_type not in IMAGE_TYPES_WITHOUT_RASTER:
        from files.processing.images import process_image

        image = process_image(path, original_size=blob.size)
        result["metadata"] = image.metadata
        result["renditions"] = image.renditions
        if image.optimized_saving_bytes is not None:
            result["metadata"]["optimized_saving_bytes"] = image.optimized_saving_bytes
        result["timings"].update(image.timings)
        if image.preview is not None:
            labelled = time.perf_counter()
            result["labels"], unavailable = _labels_for(image.preview)
            if unavailable:
                result["metadata"]["labels_unavailable"] = unavailable
            result["timings"]["labels"] = round((time.perf_counter() - labelled) * 1000, 1)
    elif content_type == "image/svg+xml":
        result["metadata"] = {"format": "SVG"}
    elif content_type.startswith(DOCUMENT_PREFIXES):
        from files.processing.documents import extract_document
        from files.processing.images import renditions_from_picture
        from files.processing.labels import document_labels

        document = extract_document(path, content_type)
        result["metadata"] = dict(document.metadata)
        result["text"] = document.text
        result["labels"] = document_labels()
        if document.preview is not None:
            result["renditions"] = renditions_from_picture(document.preview).renditions
        result["timings"]["extract"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def file_process(*, file_id, version_id: int | None = None, force: bool = False) -> str:
    """Process the file's current version; returns the final status, "gone" or "skipped".

    `version_id` is the version the task was queued for: once another one is current, that
    one's own task decides the outcome, and this one is skipped (None: whichever is current).
    A version already completed or failed is left alone (a task delivered again after it
    finished: acks_late, a broker restoring unacknowledged messages), unless `force`. An
    explicit reprocess sets the file `pending` first, or passes `force`.
    """
    file = File.objects.select_related("current_version__blob").filter(pk=file_id, deleted_at__isnull=True).first()
    if file is None or file.current_version is None:
        return "gone"
    if version_id is not None and file.current_version_id != version_id:
        log.info("processing %s skipped: version %s is no longer current", file.pk, version_id)
        return "skipped"
    if file.status in (FileStatus.COMPLETED, FileStatus.FAILED) and not force:
        # Every new version and every reprocess resets the status to pending, so a final status
        # here was reached by this very version.
        log.info("processing %s skipped: already %s", file.pk, file.status)
        return "skipped"
    version_id = file.current_version_id
    blob = file.current_version.blob
    this_version = File.objects.filter(pk=file.pk, current_version_id=version_id)
    if file.current_version.processing_attempts >= settings.PROCESSING_MAX_ATTEMPTS:
        # Delivered again after its last run never came back (a worker killed at the hard time
        # limit or lost: reject_on_worker_lost puts the task straight back).
        _fail(this_version, **_timed_out())
        log.warning("processing %s failed: %d runs never came back", file.pk, settings.PROCESSING_MAX_ATTEMPTS)
        return FileStatus.FAILED
    if not _start(file_id=file.pk, version_id=version_id):
        log.info("processing %s skipped: version %s is no longer current", file.pk, version_id)
        return "skipped"
    log.info("processing %s (%s, %s bytes)", file.pk, blob.content_type, blob.size)
    try:
        with _downloaded(blob) as path:
            analysed = _analyse(blob, path)
        _store_renditions(blob, analysed["renditions"])
    except TRANSIENT_ERRORS:
        _returned(version_id)
        raise
    except ProcessingError as exc:
        _fail(this_version, code=exc.code, message=exc.message)
        log.info("processing %s failed: %s", file.pk, exc.code)
        return FileStatus.FAILED
    metadata = {**_file_metadata(file, blob), **analysed["metadata"]}
    metadata["processing_ms"] = analysed["timings"]  # per stage, for people wondering why a file is slow
    text = analysed["text"][: settings.PROCESSING_MAX_TEXT_CHARS]
    _finish(
        this_version,
        status=FileStatus.COMPLETED,
        metadata=metadata,
        labels=analysed["labels"],
        content_text=text,
    )
    log.info("processing %s completed", file.pk)
    return FileStatus.COMPLETED


def _start(*, file_id, version_id: int) -> bool:
    """Mark the file `processing` and count the run; False if another version is current now."""
    with transaction.atomic():
        # The file's row first, as everywhere else: a version is only touched with it locked.
        started = File.objects.filter(pk=file_id, current_version_id=version_id).update(
            status=FileStatus.PROCESSING, updated_at=timezone.now()
        )
        if started:
            FileVersion.objects.filter(pk=version_id).update(processing_attempts=F("processing_attempts") + 1)
    return bool(started)


def _returned(version_id: int) -> None:
    """Uncount a run that came back with a transient error: its retries are bounded on their own."""
    try:
        FileVersion.objects.filter(pk=version_id, processing_attempts__gt=0).update(
            processing_attempts=F("processing_attempts") - 1
        )
    except DatabaseError:
        pass  # the database is what is away: the run stays counted, one of several allowed


def _finish(files: QuerySet[File], *, status: str, error: str = "", error_code: str = "", **fields) -> bool:
    """Give the file of `files` its outcome, if it still matches once locked; False if not.

    `files` names the version the outcome is for (`current_version_id=`): a newer version
    uploaded meanwhile has its own task, and this result is stale then. A failure writes
    what nothing found leaves (`_nothing_found`) under the fields given.
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
        # An outcome: a reprocess later gets its full number of attempts.
        FileVersion.objects.filter(pk=locked.current_version_id).update(processing_attempts=0)
    return True


def _file_metadata(file: File, blob: Blob) -> dict:
    """The metadata keys that do not come from analysing the content (see the module docstring)."""
    return {"extension_mismatch": extension_mismatch(content_type=blob.content_type, name=file.name)}


def _nothing_found(file: File, blob: Blob) -> dict:
    return {"metadata": _file_metadata(file, blob), "labels": [], "content_text": ""}


# Errors a later attempt may get past: storage or the database away for a while. Anything
# else is the file's fault (ProcessingError) or a bug.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (storage.StorageUnavailable, OperationalError)


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


def queue_processing(file: File) -> None:
    """Hand the file's current version to a worker once the transaction commits.

    The upload is stored by then, so a broker that is down must not turn it into an error:
    the failure is logged, the file stays `pending`, and processing_requeue_stale queues it
    once it has waited PROCESSING_STALE_MINUTES.
    """
    transaction.on_commit(functools.partial(_send, str(file.pk), file.current_version_id), robust=True)


def _send(file_id: str, version_id: int) -> bool:
    """Queue the processing task now; False (logged) when the broker cannot be reached."""
    from files.tasks import process_file

    try:
        process_file.delay(file_id, version_id)
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
    cutoff = timezone.now() - (older_than or timedelta(minutes=settings.PROCESSING_STALE_MINUTES))
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
