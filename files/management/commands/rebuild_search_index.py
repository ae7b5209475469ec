"""`manage.py rebuild_search_index [--tenant SLUG]`: recompute search vectors in batches.

Needed after changing a tenant's text-search configuration or the vector's definition;
the trigger keeps vectors current otherwise. Rows are touched in id order, a batch per
transaction, so memory stays flat and the table stays writable.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from accounts.models import Tenant
from files.models import File
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = "Recompute the full-text search vectors (all tenants, or one)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options) -> None:
        files = File.objects.all()
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
            files = files.filter(tenant=tenant)
        total = files.count()
        progress = Progress(total, label="reindex", stream=self.stdout)
        last_id = None
        while True:
            batch = files.order_by("id")
            if last_id is not None:
                batch = batch.filter(id__gt=last_id)
            ids = list(batch.values_list("id", flat=True)[: options["batch_size"]])
            if not ids:
                break
            with transaction.atomic(), connection.cursor() as cursor:
                # Writing a column the vector depends on fires the trigger that recomputes it.
                cursor.execute("UPDATE files_file SET name = name WHERE id = ANY(%s)", [ids])
            for _ in ids:
                progress.advance()
            last_id = ids[-1]
        progress.close()
        self.stdout.write(self.style.SUCCESS(f"Reindexed {total} files."))
