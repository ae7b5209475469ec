"""`manage.py restore DIR`: rebuild the database from a backup, then check that the buckets
hold every object its manifest names.

The site answers 503 (`maintenance`, with Retry-After) meanwhile, and the running web and
worker processes carry on afterwards without a restart. Exits 1 when an object the
manifest names is not in its bucket afterwards (lost, or only in the replica and not
copied back): the list is printed.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from accounts.models import DeletedTenant, Tenant
from files import storage
from files.services.backup import BackupError, backup_read, manifest_read
from files.services.recovery import recovered_files_create, unclaimed_blob_objects
from files.services.restore import ObjectsReport, database_restore, migrations_check, objects_check
from mediaportal.maintenance import MaintenanceUnavailable, maintenance_mode
from mediaportal.pgtools import ToolMissing
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = (
        "Replace the database by the backup in DIR (one transaction: a failed restore changes nothing), "
        "apply newer migrations, then HEAD every object the backup's manifest names (primary, archive, "
        "replica) and report those the buckets lack; blobs stored after the backup become files in a "
        "'Recovered' folder. The site is in maintenance (503) meanwhile. Exits 1 when objects are missing."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument(
            "--objects-from-replica",
            action="store_true",
            help="Copy every object missing from its bucket back from the replica region (verified by SHA-256).",
        )
        parser.add_argument(
            "--no-recover",
            action="store_true",
            help="Do not turn stored blobs the backup does not know (uploaded after it) into 'Recovered' files.",
        )
        parser.add_argument(
            "--offline",
            action="store_true",
            help="The portal is stopped: no maintenance flag in Redis (needed when Redis is unreachable).",
        )
        parser.add_argument("--no-input", action="store_false", dest="interactive", help="Do not ask to confirm.")

    def handle(self, *args, **options) -> None:
        directory: Path = options["directory"]
        try:
            info = backup_read(directory)
            unapplied = migrations_check(info)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        counts = info["counts"]
        self.stdout.write(
            f"Backup of {info['created_at']}: {counts['tenants']} tenants, {counts['files']} files, "
            f"{info['manifest']['objects']} objects."
        )
        if options["interactive"] and input("This replaces the whole database. Type 'restore' to go on: ") != "restore":
            raise CommandError("Nothing was changed.")
        flag = contextlib.nullcontext() if options["offline"] else maintenance_mode(reason="restore")
        try:
            with flag:
                report, recovered = self._restore(directory, info, unapplied, options)
        except MaintenanceUnavailable as exc:
            raise CommandError(f"{exc}. Stop the portal and run again with --offline.") from None
        except (BackupError, ToolMissing) as exc:
            raise CommandError(str(exc)) from None
        self._report(report, recovered)

    def _restore(self, directory: Path, info: dict, unapplied: list, options: dict) -> tuple[ObjectsReport, int]:
        started = time.monotonic()
        self.stdout.write("Restoring the database (the site answers 503 meanwhile)...")
        database_restore(directory=directory, info=info)
        self.stdout.write(f"  database restored in {time.monotonic() - started:.1f} s")
        if unapplied:
            self.stdout.write(f"  applying {len(unapplied)} migrations newer than the backup")
            call_command("migrate", interactive=False, verbosity=0)
        started = time.monotonic()
        progress = Progress(info["manifest"]["objects"], label="objects", stream=self.stdout)
        report = objects_check(
            lines=manifest_read(directory, info),
            copy_from_replica=options["objects_from_replica"],
            on_checked=lambda line, outcome: progress.advance(outcome),
        )
        progress.close()
        self.stdout.write(f"  objects checked in {time.monotonic() - started:.1f} s")
        recovered = 0 if options["no_recover"] else self._recover()
        return report, recovered

    def _recover(self) -> int:
        """Blobs stored after the backup (their tenant known to it) become Recovered files."""
        made = 0
        for tenant_id in Tenant.objects.values_list("pk", flat=True):
            entries = unclaimed_blob_objects(tenant_id=tenant_id)
            if entries:
                count, failed = recovered_files_create(entries=entries)
                made += count
                for key in failed:
                    self.stdout.write(f"  not recovered: {key}")
        known = {str(pk) for pk in Tenant.objects.values_list("pk", flat=True)}
        known |= {str(pk) for pk in DeletedTenant.objects.values_list("pk", flat=True)}
        unknown = [
            prefix
            for prefix in storage.object_prefixes(storage.TENANTS_PREFIX)
            if prefix[len(storage.TENANTS_PREFIX) :].rstrip("/") not in known
        ]
        if unknown:
            self.stdout.write(
                self.style.WARNING(
                    f"  {len(unknown)} tenant prefixes in the bucket belong to tenants the backup does not know "
                    "(made after it): `restore_from_bucket --merge` brings them back."
                )
            )
        return made

    def _report(self, report: ObjectsReport, recovered: int) -> None:
        for outcome, key in report.problems:
            self.stdout.write(f"  {outcome:8} {key}")
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.counts.items())) or "no objects"
        self.stdout.write(f"Objects: {summary}; {recovered} stored blobs unknown to the backup recovered as files.")
        if report.absent:
            raise CommandError(
                f"{report.absent} objects the backup names are not in their buckets "
                "(missing: lost; replica: run again with --objects-from-replica)."
            )
        self.stdout.write(self.style.SUCCESS("Restore complete."))
