"""`manage.py fingerprint_images [--tenant SLUG]`: fingerprint images processed before
similar-image search existed (processing fingerprints every new image itself).

Reads each hot image blob that a version refers to and has no fingerprint, decoding it as
small as the format allows; archived blobs are left until they are retrieved. Safe to run
again: it takes up only what is still missing.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandError
from django.db import OperationalError, close_old_connections

from accounts.models import Tenant
from files.models import Blob, BlobTier
from files.services.processing import TRANSIENT_ERRORS
from files.services.processing_run import IMAGE_TYPES_WITHOUT_RASTER, blob_fingerprint
from mediaportal.progress import Progress

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Fingerprint the images that have no fingerprint yet, with a progress bar."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")

    def handle(self, *args, **options) -> None:
        blobs = Blob.objects.filter(
            content_type__startswith="image/",
            tier=BlobTier.HOT,
            fingerprint__isnull=True,
            versions__isnull=False,
        ).exclude(content_type__in=IMAGE_TYPES_WITHOUT_RASTER)
        if options["tenant"]:
            if not Tenant.objects.filter(slug=options["tenant"]).exists():
                raise CommandError(f"No tenant {options['tenant']!r}.")
            blobs = blobs.filter(tenant__slug=options["tenant"])
        ids = list(blobs.distinct().order_by("created_at").values_list("pk", flat=True))
        progress = Progress(len(ids), label="fingerprint", stream=self.stdout)
        outcome = {"fingerprinted": 0, "unreadable": 0, "pending": 0, "gone": 0}
        for blob_id in ids:
            status = self._one(blob_id)
            outcome[status] += 1
            progress.advance(status)
        progress.close()
        summary = ", ".join(f"{count} {name}" for name, count in outcome.items() if count)
        self.stdout.write(self.style.SUCCESS(f"Done: {summary or 'nothing to do'}."))
        if outcome["pending"]:
            self.stdout.write("  storage or database unavailable for some: run the command again later")

    def _one(self, blob_id: int) -> str:
        blob = Blob.objects.filter(pk=blob_id).first()
        if blob is None:
            return "gone"  # purged meanwhile
        try:
            return "fingerprinted" if blob_fingerprint(blob=blob) else "unreadable"
        except TRANSIENT_ERRORS as exc:
            log.warning("fingerprinting blob %s: %r; left for a later run", blob_id, exc)
            if isinstance(exc, OperationalError):
                close_old_connections()
            return "pending"
