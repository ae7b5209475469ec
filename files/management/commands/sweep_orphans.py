"""`manage.py sweep_orphans`: delete stored objects that nothing refers to."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from files.services.orphans import orphan_sweep


class Command(BaseCommand):
    help = (
        "Delete S3 objects under tenants/ that nothing refers to: blobs without a blob row (failed uploads, "
        "purges whose deletes failed), renditions without a rendition row, staged direct uploads that are "
        "completed or expired, and everything of tenants that were deleted (never of a tenant this database never knew)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--min-age-minutes", type=int, default=60, help="Leave younger objects alone (default 60).")
        parser.add_argument(
            "--tenant",
            action="append",
            metavar="ID",
            help="Sweep only this tenant's prefix (an id, of a tenant that exists or not); repeatable.",
        )

    def handle(self, *args, **options) -> None:
        tenant_ids = None
        if options["tenant"]:
            try:
                tenant_ids = [uuid.UUID(value) for value in options["tenant"]]
            except ValueError as exc:
                raise CommandError(f"--tenant takes a tenant id: {exc}") from None

        def progress(tenant_id: str, deleted: int) -> None:
            self.stdout.write(f"  tenant {tenant_id}: {deleted} orphaned objects deleted so far")

        deleted = orphan_sweep(
            older_than=timedelta(minutes=options["min_age_minutes"]), progress=progress, tenant_ids=tenant_ids
        )
        self.stdout.write(self.style.SUCCESS(f"Done: {deleted} orphaned objects deleted."))
