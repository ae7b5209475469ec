"""`manage.py scrub [--tenant SLUG] [--repair] [--sample N]`: re-hash stored objects.

Exit status 0 when every object read was intact or has been repaired, 1 when something is
lost (no intact copy left), damaged and not repaired, or could not be read (a region down).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from files.services.scrub import scrub, scrub_plan
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = (
        "Read every stored object back (blobs in the primary or archive bucket, their replica copies, "
        "renditions), re-hash it (SHA-256) and report what is missing or damaged; with --repair, rewrite it "
        "from an intact copy. A blob with no intact copy left is flagged (integrity_lost) for admins."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--repair", action="store_true", help="Rewrite missing or damaged objects.")
        parser.add_argument("--sample", type=int, metavar="N", help="Check N blobs picked at random.")

    def handle(self, *args, **options) -> None:
        tenant = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
        if options["sample"] is not None and options["sample"] < 1:
            raise CommandError("--sample takes a number of blobs, 1 or more.")
        blob_ids = scrub_plan(tenant=tenant, sample=options["sample"])
        progress = Progress(len(blob_ids), label="scrub", stream=self.stdout)
        report = scrub(blob_ids=blob_ids, repair=options["repair"], progress=lambda blob: progress.advance())
        progress.close()
        elapsed = max(time.monotonic() - progress.started, 1e-6)
        self.stdout.write(
            f"{report.blobs} blobs and {report.renditions} rendition objects in {elapsed:.1f} s "
            f"({report.blobs / elapsed:.1f} blobs/s, {report.bytes_read / elapsed / 1e6:.1f} MB/s read): "
            f"{report.intact} intact, {report.repaired} repaired, {report.lost} lost, "
            f"{report.unrepaired} damaged and not repaired, {report.unavailable} unreadable (storage unavailable), "
            f"{report.cold} cold, {report.regenerating} renditions queued for processing."
        )
        for note in report.notes:
            self.stdout.write(f"  {note}")
        if not report.clean:
            raise CommandError("something is lost, damaged or unreadable (see above).", returncode=1)
        self.stdout.write(self.style.SUCCESS("Done: nothing is lost."))
