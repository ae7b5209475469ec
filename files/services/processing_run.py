"""Processing one file: download its bytes, run the processing library, store the renditions.

Imported by workers (and the `reprocess` command) only: it loads the native libraries.
Safe to run twice: renditions are written under fixed keys and recorded with
update_or_create on (blob, kind, format), and the outcome goes through
`files.services.processing`, which writes it only for the version that was processed.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from PIL import Image

from files import storage
from files.models import Blob, File, FileStatus, Rendition, RenditionKind
from files.processing import images, ocr
from files.processing.documents import extract_document
from files.processing.errors import OcrUnavailable, ProcessingError
from files.processing.images import RenditionImage, renditions_from_picture
from files.processing.labels import RUNTIME_ERRORS, LabelsUnavailable, document_labels, image_labels, warm_up
from files.processing.limits import Limits
from files.processing.ocr_pdf import searchable_pdf
from files.processing.similar import Fingerprint
from files.selectors import type_group
from files.services.processing import (
    TRANSIENT_ERRORS,
    processing_complete,
    processing_fail,
    processing_limits,
    processing_start,
    processing_time_out,
    processing_timed_out_now,
    processing_uncount,
)
from files.services.replication import repair_queue, replication_queue_renditions
from files.services.similar import fingerprint_record
from mediaportal.metrics import PROCESSING_SECONDS

log = logging.getLogger(__name__)

IMAGE_TYPES_WITHOUT_RASTER = {"image/svg+xml"}
DOCUMENT_PREFIXES = ("application/", "text/", "message/")


def rendition_key(blob: Blob, kind: str, fmt: str) -> str:
    return f"tenants/{blob.tenant_id}/renditions/{blob.sha256[:2]}/{blob.sha256}/{kind}.{fmt}"


def file_process(*, file_id, version_id: int | None = None, force: bool = False) -> str:
    """Process the file's current version; returns the final status, "gone" or "skipped".

    `version_id` is the version the task was queued for: once another one is current, that
    one's own task decides the outcome, and this one is skipped (None: whichever is current).
    A version already completed or failed is left alone (a task delivered again after it
    finished), unless `force`. An explicit reprocess sets the file `pending` first, or
    passes `force`.
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
    if file.current_version.processing_attempts >= settings.PROCESSING_MAX_ATTEMPTS:
        # Delivered again after its last run never came back (a worker killed at the hard time
        # limit or lost: reject_on_worker_lost puts the task straight back).
        processing_time_out(file_id=file.pk, version_id=version_id)
        log.warning("processing %s failed: %d runs never came back", file.pk, settings.PROCESSING_MAX_ATTEMPTS)
        return FileStatus.FAILED
    if not processing_start(file_id=file.pk, version_id=version_id):
        log.info("processing %s skipped: version %s is no longer current", file.pk, version_id)
        return "skipped"
    return _run(file)


def _run(file: File) -> str:
    """Analyse the current version, marked `processing`, and store the outcome; timed into
    mediaportal_processing_duration_seconds (a run broken off by a transient error is not an
    outcome: its retry is timed)."""
    started = time.perf_counter()
    outcome = _run_once(file)
    group = type_group(file.current_version.blob.content_type)
    PROCESSING_SECONDS.labels(type=group, outcome=outcome).observe(time.perf_counter() - started)
    return outcome


def _run_once(file: File) -> str:
    version_id, blob = file.current_version_id, file.current_version.blob
    limits = processing_limits()
    log.info("processing %s (%s, %s bytes)", file.pk, blob.content_type, blob.size)
    try:
        with downloaded(blob) as path:
            found = _analyse(blob, path, limits, read_text=file.tenant.ocr_enabled)
        _store_renditions(blob, found.renditions)
        if found.fingerprint is not None:
            fingerprint_record(blob=blob, fingerprint=found.fingerprint)
    except TRANSIENT_ERRORS:
        processing_uncount(version_id=version_id)
        raise
    except ProcessingError as exc:
        processing_fail(file_id=file.pk, version_id=version_id, code=exc.code, message=exc.message)
        log.info("processing %s failed: %s", file.pk, exc.code)
        return FileStatus.FAILED
    except SoftTimeLimitExceeded:
        # The worker's soft time limit, raised wherever the run was: the file is too much work.
        processing_fail(file_id=file.pk, version_id=version_id, **processing_timed_out_now())
        log.warning("processing %s failed: stopped at the soft time limit", file.pk)
        return FileStatus.FAILED
    processing_complete(
        file=file,
        version_id=version_id,
        # per stage, for people wondering why a file is slow
        metadata={**found.metadata, "processing_ms": found.timings},
        labels=found.labels,
        text=found.text[: limits.max_text_chars],
        ocr_pages=_ocr_pages(found.ocr, limits),
        ocr_engine=found.ocr.engine if found.ocr else "",
    )
    log.info("processing %s completed", file.pk)
    return FileStatus.COMPLETED


# --- What the library finds ----------------------------------------------------------------


# What OCR's native code raises on a picture it loaded fine but cannot read: onnxruntime's
# errors (in RUNTIME_ERRORS, with OpenCV's), RapidOCR's own wrapper of them, numpy's.
OCR_ERRORS: tuple[type[Exception], ...] = (*RUNTIME_ERRORS, ValueError, RuntimeError, IndexError)


@dataclass
class _Found:
    metadata: dict = field(default_factory=dict)
    text: str = ""
    labels: list[dict] = field(default_factory=list)
    renditions: list[RenditionImage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: Fingerprint | None = None
    # The image pipeline's pictures at ≤ 1600 and ≤ 800 px, for OCR; dropped after it.
    picture: Image.Image | None = None
    gate: Image.Image | None = None
    ocr: ocr.OcrResult | None = None


def _analyse(blob: Blob, path: str, limits: Limits, *, read_text: bool = True) -> _Found:
    """Metadata, text, labels and renditions for the blob's bytes (already on disk at `path`);
    with `read_text`, the text OCR finds in a picture or in a PDF's pages without text."""
    content_type = blob.content_type
    if content_type.startswith("image/") and content_type not in IMAGE_TYPES_WITHOUT_RASTER:
        found = _analyse_image(blob, path, limits)
        if read_text and found.picture is not None:
            _read_text(found, lambda: ocr.ocr_picture(found.picture, gate=found.gate, limits=limits))
        found.picture = found.gate = None
        return found
    if content_type == "image/svg+xml":
        return _Found(metadata={"format": "SVG"})
    if content_type.startswith(DOCUMENT_PREFIXES):
        started = time.perf_counter()
        document = extract_document(path, content_type, limits)
        found = _Found(metadata=dict(document.metadata), text=document.text, labels=document_labels())
        if document.preview is not None:
            found.renditions = renditions_from_picture(document.preview).renditions
        found.timings["extract"] = _ms_since(started)
        if read_text and document.textless_pages:
            _read_text(found, lambda: ocr.ocr_pdf_pages(path, pages=document.textless_pages, limits=limits))
            _add_searchable(found, path)
        return found
    return _Found()


def _analyse_image(blob: Blob, path: str, limits: Limits) -> _Found:
    # Through the module: tests stand in for the decoder there.
    image = images.process_image(path, original_size=blob.size, limits=limits)
    found = _Found(
        metadata=image.metadata, renditions=image.renditions, timings=dict(image.timings), fingerprint=image.fingerprint
    )
    found.picture, found.gate = image.large, image.preview
    if image.optimized_saving_bytes is not None:
        found.metadata["optimized_saving_bytes"] = image.optimized_saving_bytes
    if image.preview is not None:
        started = time.perf_counter()
        found.labels, unavailable = _labels_for(image.preview, limits)
        if unavailable:
            found.metadata["labels_unavailable"] = unavailable
        found.timings["labels"] = _ms_since(started)
    return found


def _read_text(found: _Found, read: Callable[[], ocr.OcrResult]) -> None:
    """OCR into `found`, its summary into the metadata; like labels, OCR never fails a file."""
    started = time.perf_counter()
    try:
        found.ocr = read()
    except OcrUnavailable as exc:
        found.metadata["ocr_unavailable"] = f"OCR unavailable: {exc}"
    except OCR_ERRORS as exc:
        log.warning("OCR failed: %r", exc)
        found.metadata["ocr_unavailable"] = f"OCR unavailable: reading failed ({exc})"
    else:
        found.metadata["ocr"] = found.ocr.summary()
    found.timings["ocr"] = _ms_since(started)


def _add_searchable(found: _Found, path: str) -> None:
    """The scan with its recognised text as an invisible layer, as a rendition."""
    if found.ocr is None or not found.ocr.text:
        return
    started = time.perf_counter()
    data = searchable_pdf(path, found.ocr.pages)
    if data is not None:
        found.renditions.append(RenditionImage(RenditionKind.SEARCHABLE, "pdf", data, 0, 0))
    found.timings["searchable_pdf"] = _ms_since(started)


def _ocr_pages(result: ocr.OcrResult | None, limits: Limits) -> list[dict]:
    """The pages with text, as stored; their text within PROCESSING_MAX_TEXT_CHARS in all."""
    pages, budget = [], limits.max_text_chars
    for page in result.pages if result else ():
        if not page.lines or budget <= 0:
            continue
        lines = []
        for line in page.lines:
            budget -= len(line["text"]) + 1
            if budget < 0:
                break
            lines.append(line)
        pages.append(
            {
                "number": page.number,
                "width": page.width,
                "height": page.height,
                "lines": lines,
                "confidence": page.confidence,
            }
        )
    return pages


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _labels_for(picture: Image.Image, limits: Limits) -> tuple[list[dict], str | None]:
    """Labels and None, or no labels and why: labels are extras, so they never fail a file."""
    try:
        return image_labels(picture, limits), None
    except LabelsUnavailable as exc:
        return [], f"labels unavailable: {exc}"
    except RUNTIME_ERRORS as exc:
        # The model loaded but failed on this picture (or the face detector did).
        log.warning("labelling failed: %r", exc)
        return [], f"labels unavailable: labelling failed ({exc})"


def labels_warm_up() -> None:
    """Load the label model now rather than on the first image; logged if it cannot be.

    Each worker process calls it after the fork: onnxruntime sessions do not survive one.
    """
    try:
        warm_up(processing_limits())
    except (LabelsUnavailable, *RUNTIME_ERRORS) as exc:
        log.warning("labels unavailable in this worker: %s", exc)


def ocr_warm_up() -> None:
    """Load the OCR engine now rather than on the first picture; logged if it cannot be."""
    try:
        ocr.warm_up(processing_limits())
    except (OcrUnavailable, *OCR_ERRORS) as exc:
        log.warning("OCR unavailable in this worker: %s", exc)


def _store_renditions(blob: Blob, renditions: list[RenditionImage]) -> None:
    # Identical bytes under two kinds (a 12 MP photo's optimized copy is its large WebP) are
    # stored once, and both rows name that object; a separate object an earlier run left
    # under the other kind's key is claimed by no row then, and the orphan sweep removes it.
    stored: dict[str, str] = {}  # sha256 of the bytes → their key
    rows: list[int] = []
    if not any(rendition.kind == RenditionKind.SEARCHABLE for rendition in renditions):
        # A run without OCR text (turned off, reprocessed) leaves no searchable copy behind; its
        # object, claimed by no row, goes with the orphan sweep.
        Rendition.objects.filter(blob=blob, kind=RenditionKind.SEARCHABLE).delete()
    for rendition in renditions:
        digest = hashlib.sha256(rendition.data).hexdigest()
        key = stored.get(digest)
        if key is None:
            key = stored[digest] = rendition_key(blob, rendition.kind, rendition.format)
            storage.object_put(
                key=key,
                body=rendition.data,
                sha256=digest,
                content_type="application/pdf" if rendition.format == "pdf" else f"image/{rendition.format}",
                tenant_id=blob.tenant_id,
            )
        row, _created = Rendition.objects.update_or_create(
            blob=blob,
            kind=rendition.kind,
            format=rendition.format,
            defaults={
                "tenant_id": blob.tenant_id,
                "sha256": digest,
                "replicated_at": None,
                "width": rendition.width,
                "height": rendition.height,
                "size": len(rendition.data),
                "storage_key": key,
            },
        )
        rows.append(row.pk)
    replication_queue_renditions(rendition_ids=rows)


# --- Fingerprints of images processed before they were taken ----------------------


def blob_fingerprint(*, blob: Blob) -> bool:
    """Download the image blob and store its fingerprint (the `fingerprint_images` command);
    False when its bytes are no picture the library reads. Transient errors propagate."""
    try:
        with downloaded(blob) as path:
            found = images.image_fingerprint(path, original_size=blob.size, limits=processing_limits())
    except ProcessingError as exc:
        log.info("no fingerprint for blob %s: %s", blob.sha256[:12], exc.code)
        return False
    fingerprint_record(blob=blob, fingerprint=found)
    return True


# --- Temporary downloads -------------------------------------------------------------------

# A download's temporary file holds an exclusive flock for as long as it is in use, so one
# that nobody holds is stale (its process was killed), whatever host, container or PID
# namespace made it. It is made under another name and renamed once locked, so no download
# is ever unlocked under its final name.
TEMP_PREFIX = "mp-proc-"
_NEW_PREFIX = "mp-dl-"
# A file still under its first name is only left alone this long (it is being renamed).
_NEW_GRACE_SECONDS = 60


@contextmanager
def downloaded(blob: Blob) -> Iterator[str]:
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
            _download_into(out, blob)
        yield path
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(handle)  # releases the lock


def _download_into(out, blob: Blob) -> None:
    """The blob's bytes from the primary, or from the replica copy when the primary has no
    such object (a repair is queued; the scrub would find it too)."""
    try:
        for chunk in storage.object_chunks(blob.storage_key):
            out.write(chunk)
    except ClientError as exc:  # a missing object: storage_errors lets the caller decide
        if blob.replicated_at is None or not storage._is_missing(exc):
            raise
        log.warning("blob %s missing in the primary bucket: processing reads the replica", blob.sha256[:12])
        repair_queue(blob_id=blob.pk)
        out.seek(0)
        out.truncate()
        for chunk in storage.object_chunks(blob.storage_key, role="replica"):
            out.write(chunk)


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
