"""`manage.py backup DIR`: a database dump and the list of every stored object it refers to."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from files.services.backup import BackupError, backup_write
from mediaportal.pgtools import ToolMissing
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = (
        "Back up to DIR (created; it must not hold anything): database.dump (pg_dump, custom format), "
        "manifest.jsonl (every blob and rendition object: key, bucket, size, SHA-256) from the same "
        "snapshot, and backup.json. The objects themselves stay in the buckets (and the replica)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", type=Path)

    def handle(self, *args, **options) -> None:
        directory: Path = options["directory"]
        self.stdout.write(f"Backing up to {directory}: the database dump runs beside the object list.")
        progress: Progress | None = None

        def total(count: int) -> None:
            nonlocal progress
            progress = Progress(count, label="objects", stream=self.stdout)

        started = time.monotonic()
        try:
            info = backup_write(directory=directory, total=total, progress=lambda n: progress.advance(count=n))
        except (BackupError, ToolMissing) as exc:
            raise CommandError(str(exc)) from None
        if progress:
            progress.close()
        elapsed = time.monotonic() - started
        counts = info["counts"]
        dump_mb = info["database"]["size"] / 1e6
        self.stdout.write(
            self.style.SUCCESS(
                f"Done in {elapsed:.1f} s: {counts['tenants']} tenants, {counts['files']} files, "
                f"{counts['versions']} versions; database.dump {dump_mb:.1f} MB; "
                f"manifest.jsonl lists {info['manifest']['objects']} objects "
                f"({info['manifest']['bytes'] / 1e6:.1f} MB stored)."
            )
        )
