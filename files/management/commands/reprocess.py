"""`manage.py reprocess [--tenant SLUG] [--status failed]`: run processing again."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from files.models import File, FileStatus
from files.processing.pipeline import file_process
from mediaportal.progress import Progress


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
        files = File.objects.filter(deleted_at__isnull=True, current_version__isnull=False)
        if options["tenant"]:
            files = files.filter(tenant__slug=options["tenant"])
            if not files.exists() and not File.objects.filter(tenant__slug=options["tenant"]).exists():
                raise CommandError(f"No files in tenant {options['tenant']!r} (or no such tenant).")
        if options["status"]:
            files = files.filter(status=options["status"])
        ids = list(files.order_by("created_at").values_list("id", flat=True))
        progress = Progress(len(ids), label="reprocess", stream=self.stdout)
        outcome: dict[str, int] = {}
        for file_id in ids:
            if options["queue"]:
                from files.tasks import process_file

                # Pending first: the task leaves a completed or failed version alone.
                File.objects.filter(pk=file_id).update(
                    status=FileStatus.PENDING, error="", error_code="", updated_at=timezone.now()
                )
                process_file.delay(str(file_id))
                status = "queued"
            else:
                status = file_process(file_id=file_id, force=True)
            outcome[status] = outcome.get(status, 0) + 1
            progress.advance(str(status))
        progress.close()
        summary = ", ".join(f"{count} {status}" for status, count in sorted(outcome.items())) or "nothing to do"
        self.stdout.write(self.style.SUCCESS(f"Done: {summary}."))
