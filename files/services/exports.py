"""Tenant exports: a ZIP of every live file at its folder path plus `manifest.json`
(files.services.export_archive), made by the task `files.run_export` and streamed to S3 as
a multipart upload under `tenants/<tenant>/exports/<id>.zip`, downloadable for 7 days.

Owners and admins make, list and download them (files.permissions.can_export); one export
per tenant is made at a time. States: pending → running → ready (or failed). Once
`expires_at` passes, the daily `files.exports_expire` deletes the object: the row stays
`ready` with its figures, and its download answers 410 `export_expired`.

An export does not *touch* the files it reads (File.last_accessed_at): it is a copy of the
tenant taken for safekeeping, not a use of each file, and touching every file would keep a
tenant that exports weekly from ever archiving anything.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from celery import current_app
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Membership
from accounts.services.audit import event_record
from files import storage
from files.models import Export, ExportState
from files.permissions import can_export
from files.services.export_archive import archive_expected_bytes, archive_write
from files.storage import multipart as s3_multipart
from files.storage.streaming import MultipartWriter, part_bytes_for
from mediaportal.exceptions import ApplicationError, Conflict, Forbidden, NotFound, parse_id

log = logging.getLogger(__name__)

EXPORT_TTL = timedelta(days=7)
# A pending export whose task has not started after this long was lost on the way (a broker
# down at the commit): it no longer holds the tenant's one export.
PENDING_GRACE = timedelta(hours=1)
ACTIVE = (ExportState.PENDING, ExportState.RUNNING)
# pg_advisory_lock(int, int) classes, apart from files.services.locks' keys: the tenant's
# "one export at a time" check (transaction) and a running export's claim (session: held
# by the worker for the whole run, gone with its connection if the worker dies).
TENANT_EXPORTS_LOCK_CLASS = 2
EXPORT_RUN_LOCK_CLASS = 3


class ExportExpired(ApplicationError):
    status_code = 410
    default_code = "export_expired"
    default_detail = "This export has expired and its download was deleted; start a new export."


def export_key(tenant_id, export_id) -> str:
    return f"tenants/{tenant_id}/exports/{export_id}.zip"


def export_filename(export: Export) -> str:
    """What the download is called: `<tenant-slug>-export-<date>.zip`."""
    return f"{export.tenant.slug}-export-{timezone.localdate(export.created_at).isoformat()}.zip"


def export_expired(export: Export, *, now=None) -> bool:
    return export.state == ExportState.READY and (
        not export.storage_key or (export.expires_at is not None and export.expires_at <= (now or timezone.now()))
    )


def _lock_key(value) -> int:
    return int.from_bytes(hashlib.blake2b(str(value).encode(), digest_size=4).digest(), "big", signed=True)


# --- Reads ----------------------------------------------------------------------------


def _check_allowed(membership: Membership) -> None:
    if not can_export(membership=membership):
        raise Forbidden("Only owners and admins can export the team's files.")


def export_list(*, membership: Membership) -> QuerySet[Export]:
    """The tenant's exports (owners and admins; 403 for anyone else), any order."""
    _check_allowed(membership)
    return Export.objects.filter(tenant_id=membership.tenant_id).select_related("tenant", "created_by")


def export_get(*, membership: Membership, export_id) -> Export:
    """One export of the tenant; 404 for another tenant's and for members who may not export
    (an object the caller may not see)."""
    export = None
    if can_export(membership=membership):
        export = (
            Export.objects.filter(tenant_id=membership.tenant_id, pk=parse_id(export_id, "Export"))
            .select_related("tenant", "created_by")
            .first()
        )
    if export is None:
        raise NotFound("Export not found.")
    return export


def export_download_url(*, export: Export, expire_check: bool = True) -> str | None:
    """A presigned GET (≤ 5 minutes) of a ready export's ZIP; None when there is none to give."""
    if export.state != ExportState.READY or (expire_check and export_expired(export)):
        return None
    return storage.presigned_get(
        key=export.storage_key, filename=export_filename(export), content_type="application/zip"
    )


def export_download(*, membership: Membership, export_id, ip: str | None = None) -> str:
    """The download's URL for a member who asks for it (recorded): 409 `export_not_ready`
    before it is ready, 410 `export_expired` after its expiry."""
    export = export_get(membership=membership, export_id=export_id)
    if export.state != ExportState.READY:
        raise Conflict("This export is not ready.", code="export_not_ready", extra={"state": export.state})
    if export_expired(export):
        raise ExportExpired()
    event_record(verb="export.downloaded", tenant=membership.tenant, actor=membership.user, target=export, ip=ip)
    return export_download_url(export=export, expire_check=False)


# --- Starting one ---------------------------------------------------------------------


@transaction.atomic
def export_create(*, membership: Membership, ip: str | None = None) -> Export:
    """Start an export of the whole tenant (202): 403 unless owner or admin, 409
    `export_running` while another is pending or running."""
    _check_allowed(membership)
    tenant = membership.tenant
    with connection.cursor() as cursor:
        # Two creates at once: the second waits here and then sees the first's row.
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [TENANT_EXPORTS_LOCK_CLASS, _lock_key(tenant.pk)])
    for active in Export.objects.select_for_update().filter(tenant=tenant, state__in=ACTIVE):
        if _still_going(active):
            raise Conflict(
                "An export of this team is being made; wait until it is ready.",
                code="export_running",
                extra={"export": str(active.pk)},
            )
        log.warning("export %s: its run was lost; marked failed", active.pk)
        _failed(active, "The export was interrupted (its worker stopped); start a new one.")
    export = Export.objects.create(tenant=tenant, created_by=membership.user)
    event_record(verb="export.created", tenant=tenant, actor=membership.user, target=export, ip=ip)
    export_id = str(export.pk)
    transaction.on_commit(lambda: current_app.send_task("files.run_export", args=[export_id]))
    return export


def _still_going(export: Export) -> bool:
    """A pending export whose task may still come, or a running one whose worker holds its
    claim. A running export nobody holds lost its worker (its task, delivered again, finds
    it failed and leaves it)."""
    if export.state == ExportState.PENDING:
        return export.created_at > timezone.now() - PENDING_GRACE
    with connection.cursor() as cursor:
        key = [EXPORT_RUN_LOCK_CLASS, _lock_key(export.pk)]
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if cursor.fetchone()[0]:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            return False
    return True


def _failed(export: Export, error: str) -> None:
    Export.objects.filter(pk=export.pk).update(state=ExportState.FAILED, error=error, finished_at=timezone.now())


# --- Making one (the task) ------------------------------------------------------------


@contextmanager
def _run_claim(export_id) -> Iterator[bool]:
    """Whether this process may run the export: False while another one runs it (a task
    delivered twice, e.g. after the broker's visibility timeout on a long export)."""
    key = [EXPORT_RUN_LOCK_CLASS, _lock_key(export_id)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def export_run(*, export_id) -> str:
    """Make the export's ZIP in S3: "ready", "failed", or "skipped" (not pending or running
    any more, or run elsewhere right now)."""
    with _run_claim(export_id) as mine:
        export = _start(export_id) if mine else None
        if export is None:
            return "skipped"
        started = timezone.now()
        try:
            summary, size = _upload(export)
        except Exception as exc:
            log.exception("export %s failed", export.pk)
            _failed(export, _error_text(exc))
            return "failed"
        _ready(export, size=size, file_count=summary.files)
        seconds = (timezone.now() - started).total_seconds()
        log.info(
            "export %s ready: %d files, %d bytes in %.1f s (%d archived, %d missing)",
            export.pk,
            summary.files,
            size,
            seconds,
            summary.archived,
            summary.missing,
            extra={"export": str(export.pk), "bytes": size, "seconds": seconds},
        )
        return "ready"


@transaction.atomic
def _start(export_id) -> Export | None:
    export = Export.objects.select_for_update().select_related("tenant").filter(pk=export_id).first()
    if export is None or export.state not in ACTIVE:
        return None
    if export.state == ExportState.RUNNING:
        # A run before this one died mid-way: drop the parts it had sent.
        key = export_key(export.tenant_id, export.pk)
        for upload in s3_multipart.uploads(key):
            if upload["Key"] == key:
                s3_multipart.abort(key=key, upload_id=upload["UploadId"])
    export.state, export.started_at, export.error = ExportState.RUNNING, timezone.now(), ""
    export.save(update_fields=["state", "started_at", "error"])
    log.info("export %s running", export.pk, extra={"export": str(export.pk)})
    return export


def _upload(export: Export):
    key = export_key(export.tenant_id, export.pk)
    part_bytes = part_bytes_for(archive_expected_bytes(tenant=export.tenant))
    metadata = {"tenant": str(export.tenant_id), "export": str(export.pk)}
    with MultipartWriter(key=key, content_type="application/zip", metadata=metadata, part_bytes=part_bytes) as out:
        summary = archive_write(tenant=export.tenant, out=out, created_at=export.created_at)
    return summary, out.size


def _error_text(exc: Exception) -> str:
    if isinstance(exc, storage.StorageUnavailable):
        return "File storage was unavailable while the export was made; start a new export."
    return "The export failed unexpectedly; start a new export."


@transaction.atomic
def _ready(export: Export, *, size: int, file_count: int) -> None:
    now = timezone.now()
    Export.objects.filter(pk=export.pk).update(
        state=ExportState.READY,
        storage_key=export_key(export.tenant_id, export.pk),
        size=size,
        file_count=file_count,
        finished_at=now,
        expires_at=now + EXPORT_TTL,
    )
    event_record(
        verb="export.ready",
        tenant=export.tenant,
        actor=export.created_by,
        target=export,
        data={"size": size, "file_count": file_count},
    )


# --- Expiry ---------------------------------------------------------------------------


def exports_expire(*, now=None) -> int:
    """Delete the objects of exports past `expires_at` (the daily sweep); returns how many.
    The rows stay, so the list shows what was made and when."""
    now = now or timezone.now()
    deleted = 0
    expired = Export.objects.filter(state=ExportState.READY, expires_at__lte=now).exclude(storage_key="")
    for export in expired.only("pk", "storage_key").iterator():
        try:
            storage.object_delete(export.storage_key)
        except storage.StorageUnavailable:
            log.warning("could not delete expired export %s; will retry", export.pk)
            continue
        Export.objects.filter(pk=export.pk).update(storage_key="")
        deleted += 1
    return deleted
