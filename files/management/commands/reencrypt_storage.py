"""`manage.py reencrypt_storage [--role primary|archive|replica|all] [--mode auto|rewrite|copy]`:
rewrite every stored object so that it is encrypted at rest, with a progress bar.

For an embedded installation whose data was written before its SeaweedFS ran with
`-s3.encryptVolumeData` (rewrite: GET and PUT back, then the servers compact their volumes
so the old clear copies leave the disk), and for a bucket on AWS or another S3 that gets
S3_SSE after objects were stored without it (copy: a server-side copy onto itself asking
for S3_SSE). `auto` copies when S3_SSE is set against a store other than the embedded
one, and rewrites otherwise: SeaweedFS makes an object it copies with SSE unreadable when
its volumes are encrypted too.

Safe while the portal runs (an object deleted or replaced meanwhile is left alone) and to
run again. Exits 1 when an object's bytes do not match the SHA-256 in its metadata: those
are left as they are, for `scrub` to repair.
"""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from files import storage
from files.storage.rewrite import CORRUPT, object_reencrypt
from mediaportal.embedded import seaweedfs_vacuum
from mediaportal.progress import Progress

# SeaweedFS frees an overwritten object's old data in the background, a second or so after
# the write (more on a busy machine): the volumes are compacted at the end, and again after
# these pauses for what was freed late.
VACUUM_PAUSES = (0, 3, 7)


class Command(BaseCommand):
    help = "Rewrite every stored object so it is encrypted at rest (embedded volumes, or S3_SSE)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--role", choices=[*storage.ROLES, "all"], default="all", help="Which bucket (default all)."
        )
        parser.add_argument(
            "--mode",
            choices=["auto", "rewrite", "copy"],
            default="auto",
            help="rewrite: GET and PUT back; copy: server-side copy asking for S3_SSE; auto: copy with S3_SSE "
            "on a store other than the embedded one.",
        )

    def handle(self, *args, **options) -> None:
        mode = options["mode"]
        if mode == "auto":
            mode = "copy" if settings.S3_SSE and not settings.SEAWEEDFS_MASTER_URLS else "rewrite"
        if mode == "copy" and not settings.S3_SSE:
            raise CommandError("--mode copy asks S3 for S3_SSE, which is not set.")
        roles = storage.ROLES if options["role"] == "all" else [options["role"]]
        corrupt: list[str] = []
        try:
            for role in roles:
                counts = self._role(role, mode, corrupt)
                summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(counts.items())) or "empty"
                self.stdout.write(f"{role}: {summary}.")
        except storage.StorageUnavailable as exc:
            raise CommandError(f"{exc.detail} What is done stays done; run the command again.") from exc
        if mode == "rewrite" and settings.SEAWEEDFS_MASTER_URLS:
            self._vacuum()
        if corrupt:
            self.stderr.write("Left alone, their bytes do not match their SHA-256 (`scrub --repair` repairs them):")
            for line in corrupt[:50]:
                self.stderr.write(f"  {line}")
            raise CommandError(f"{len(corrupt)} object(s) could not be rewritten.", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"Done ({mode})."))

    def _role(self, role: str, mode: str, corrupt: list[str]) -> Counter:
        total = sum(1 for _ in storage.object_keys("", role))
        progress = Progress(total, label=f"reencrypt {role}", stream=self.stdout)
        counts: Counter = Counter()
        for listed in storage.object_keys("", role):
            outcome = object_reencrypt(listed["Key"], role=role, mode=mode)
            counts[outcome] += 1
            if outcome == CORRUPT:
                corrupt.append(f"{role}: {listed['Key']}")
            progress.advance(outcome)
        progress.close()
        return counts

    def _vacuum(self) -> None:
        for pause in VACUUM_PAUSES:
            time.sleep(pause)
            for master in settings.SEAWEEDFS_MASTER_URLS:
                seaweedfs_vacuum(master)
        self.stdout.write("Compacted the embedded store's volumes: the old, clear copies are gone.")
