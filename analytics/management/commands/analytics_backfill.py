"""`manage.py analytics_backfill [--tenant SLUG] [--since DATE]`: count the history.

The usage roll-up reads only the audit events added since it started; this recounts the
hourly rows of every day from DATE (default: each tenant's first event) to today, and then
takes a storage snapshot of each tenant. Safe to run again, and while the roll-ups run:
each day's buckets are recounted whole.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date

from accounts.models import Tenant
from analytics.services.rollups import usage_backfill_day, usage_backfill_plan
from analytics.services.snapshots import storage_snapshot
from mediaportal.progress import Progress


class Command(BaseCommand):
    help = "Count the usage history from the audit trail (hourly rows), then snapshot each tenant's storage."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", help="Only this tenant (slug).")
        parser.add_argument("--since", help="From this day (YYYY-MM-DD, UTC); default each tenant's first event.")

    def handle(self, *args, **options) -> None:
        tenants = Tenant.objects.order_by("slug")
        if options["tenant"]:
            tenants = tenants.filter(slug=options["tenant"])
            if not tenants.exists():
                raise CommandError(f"No tenant {options['tenant']!r}.")
        since = None
        if options["since"]:
            since = parse_date(options["since"])
            if since is None:
                raise CommandError("--since takes a date, YYYY-MM-DD.")
        tenants = list(tenants)
        plan = usage_backfill_plan(tenant_ids=[t.pk for t in tenants], since=since)
        progress = Progress(len(plan), label="usage", stream=self.stdout)
        buckets = 0
        for tenant_id, day in plan:
            buckets += usage_backfill_day(tenant_id=tenant_id, day=day)
            progress.advance(str(day))
        progress.close()
        snapshots = Progress(len(tenants), label="storage", stream=self.stdout)
        for tenant in tenants:
            storage_snapshot(tenant=tenant)
            snapshots.advance(tenant.slug)
        snapshots.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Done: {buckets} hours with activity over {len(plan)} tenant-days, {len(tenants)} snapshots."
            )
        )
