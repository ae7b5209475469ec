"""`manage.py sweep_orphans`: delete stored objects that no blob row claims."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from files.services.blobs import orphan_sweep


class Command(BaseCommand):
    help = "Delete S3 objects under tenants/*/blobs/ that no blob row refers to (left by failed uploads)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-age-minutes", type=int, default=60, help="Leave younger objects alone (default 60).")

    def handle(self, *args, **options) -> None:
        def progress(tenant_id, deleted: int) -> None:
            self.stdout.write(f"  tenant {tenant_id}: {deleted} orphaned objects deleted so far")

        deleted = orphan_sweep(older_than=timedelta(minutes=options["min_age_minutes"]), progress=progress)
        self.stdout.write(self.style.SUCCESS(f"Done: {deleted} orphaned objects deleted."))
