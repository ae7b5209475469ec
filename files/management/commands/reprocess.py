"""`manage.py reprocess [--tenant SLUG] [--status failed] [--queue]`: run processing again.

One file's trouble does not stop the run: a transient error (storage or database away)
leaves that file `pending`, to be taken up by a later run or the stale-processing sweep, a
crash fails it with `processing_error`, and the summary lists every file that did not complete.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, close_old_connections

from files.models import BlobTier, File
from files.services.processing import (
    TRANSIENT_ERRORS,
    file_crashed,
    file_processing_interrupted,
    processing_queue_now,
)
from files.services.processing_run import file_process
from mediaportal.progress import Progress

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Process files again (renditions, metadata, text, labels), in this process with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument(
            "--status", choices=["pending", "processing", "completed", "failed"], help="Only files in this state."
        )
        parser.add_argument(
            "--queue", action="store_true", help="Queue tasks for the workers instead of processing here."
        )

    def handle(self, *args, **options) -> None:
        # Archived bytes are not read (the API refuses their reprocess too): retrieve them first.
        files = File.objects.filter(
            deleted_at__isnull=True, current_version__isnull=False, current_version__blob__tier=BlobTier.HOT
        )
        if options["tenant"]:
            files = files.filter(tenant__slug=options["tenant"])
            if not files.exists() and not File.objects.filter(tenant__slug=options["tenant"]).exists():
                raise CommandError(f"No files in tenant {options['tenant']!r} (or no such tenant).")
        if options["status"]:
            files = files.filter(status=options["status"])
        listed = list(files.order_by("created_at").values_list("id", "name", "current_version_id"))
        progress = Progress(len(listed), label="reprocess", stream=self.stdout)
        outcome = {"completed": 0, "failed": 0, "skipped": 0}
        notes: list[str] = []
        for file_id, name, version_id in listed:
            status = self._queue(file_id, version_id) if options["queue"] else self._process(file_id, version_id)
            outcome[status] = outcome.get(status, 0) + 1
            if status == "failed":
                file = File.objects.filter(pk=file_id).values("error_code", "error").first() or {}
                notes.append(f"failed  {name} ({file_id}): {file.get('error_code')}: {file.get('error')}")
            elif status == "skipped":
                notes.append(f"skipped {name} ({file_id}): deleted or given a new version meanwhile")
            elif status == "pending":
                notes.append(f"pending {name} ({file_id}): storage or database unavailable; run again later")
            elif status == "not queued":
                notes.append(f"pending {name} ({file_id}): broker unavailable; the stale-processing sweep queues it")
            progress.advance(status)
        progress.close()
        self.stdout.write(self.style.SUCCESS(f"Done: {self._summary(outcome)}."))
        for line in notes:
            self.stdout.write(f"  {line}")

    def _process(self, file_id, version_id: int) -> str:
        try:
            status = file_process(file_id=file_id, version_id=version_id, force=True)
        except TRANSIENT_ERRORS as exc:
            log.warning("reprocessing %s: %r; left pending", file_id, exc)
            if isinstance(exc, OperationalError):
                close_old_connections()  # drops a broken connection; the next query opens a new one
            try:
                file_processing_interrupted(file_id=file_id, version_id=version_id)
            except OperationalError:
                pass  # the database is away: the file stays `processing` until the stale sweep finds it
            return "pending"
        except Exception:
            log.exception("reprocessing %s crashed", file_id)
            file_crashed(file_id=file_id, version_id=version_id)
            return "failed"
        return "skipped" if status == "gone" else status

    def _queue(self, file_id, version_id: int) -> str:
        return "queued" if processing_queue_now(file_id=file_id, version_id=version_id) else "not queued"

    @staticmethod
    def _summary(outcome: dict[str, int]) -> str:
        parts = [f"{outcome.pop(key)} {key}" for key in ("completed", "failed", "skipped")]
        if pending := outcome.pop("pending", 0):
            parts.append(f"{pending} left pending (storage or database unavailable)")
        parts += [f"{count} {status}" for status, count in sorted(outcome.items())]
        return ", ".join(parts)
