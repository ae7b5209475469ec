"""`manage.py archive_sweep [--tenant SLUG] [--older-than-days N] [--dry-run]`: move what
nobody touched for long enough to the archive tier, here, with a progress bar.

The same sweep beat runs daily (`files.archive_sweep`); see files.services.lifecycle for
what is archived and how. Safe to stop and run again.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from files.services.lifecycle import archive_sweep, archive_sweep_total
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = "Move blobs untouched for long enough (each tenant's settings, or --older-than-days) to the archive."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument(
            "--older-than-days",
            type=int,
            help="Archive what is untouched for longer than this, current and old versions alike, "
            "instead of each tenant's settings (even where they say never).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Change nothing; say what would move.")

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
        days = options["older_than_days"]
        if days is not None and days < 0:
            raise CommandError("--older-than-days must be 0 or more.")
        progress = Progress(archive_sweep_total(tenant=tenant), label="archive sweep", stream=self.stdout)
        summary = archive_sweep(
            tenant=tenant,
            older_than_days=days,
            dry_run=options["dry_run"],
            progress=lambda examined, note: progress.advance(note, count=examined),
        )
        progress.close()
        would = "Would archive" if summary.dry_run else "Archived"
        self.stdout.write(
            self.style.SUCCESS(
                f"{would} {summary.archived} blobs ({summary.files} files, {summary.bytes:,} bytes) "
                f"of {summary.examined} examined."
            )
        )
        if not summary.dry_run:
            self.stdout.write(f"Primary copies deleted after their grace: {summary.released}.")
        for line in summary.failed:
            self.stdout.write(self.style.WARNING(f"  left hot: {line}"))
