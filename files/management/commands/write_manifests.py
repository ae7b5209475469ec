"""`manage.py write_manifests [--tenant ID]`: write the bucket manifests now (beat does it hourly)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from files.services.manifests import manifests_write


class Command(BaseCommand):
    help = (
        "Write each tenant's manifest object (tenants/<id>/manifest.json) to the primary bucket and the "
        "replica: what restore_from_bucket rebuilds the database from. Unchanged manifests are not rewritten."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", action="append", metavar="ID", help="Only this tenant (an id); repeatable.")

    def handle(self, *args, **options) -> None:
        outcome = manifests_write(tenant_ids=options["tenant"])
        summary = ", ".join(f"{count} {what}" for what, count in outcome.items())
        self.stdout.write(self.style.SUCCESS(f"Bucket manifests: {summary}."))
        if outcome["failed"]:
            raise SystemExit(1)
