"""`manage.py rebuild_search_index [--tenant SLUG]`: recompute search vectors in batches.

Needed after changing the vector's definition; a tenant's change of language is picked
up by a task on its own. Rows are touched in id order, a batch per transaction, so memory
stays flat and the table stays writable.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Tenant
from files.models import File
from files.search import get_search_backend
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = "Recompute the full-text search vectors (all tenants, or one)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, **options) -> None:
        tenant_id = None
        if options["tenant"]:
            tenant = Tenant.objects.filter(slug=options["tenant"]).first()
            if tenant is None:
                raise CommandError(f"No tenant {options['tenant']!r}.")
            tenant_id = tenant.pk
        total = (File.objects.filter(tenant_id=tenant_id) if tenant_id else File.objects).count()
        bar = Progress(total, label="reindex", stream=self.stdout)

        done = get_search_backend().reindex(
            tenant_id=tenant_id, batch_size=options["batch_size"], progress=lambda count: bar.advance(count=count)
        )
        bar.close()
        self.stdout.write(self.style.SUCCESS(f"Reindexed {done} files."))
