"""Storage snapshots: what each tenant stores, one analytics.StorageSnapshot row per hour.

`snapshot_storage` (every 5 minutes) rewrites the current hour's row of each tenant that
changed since the last run, and writes one for every tenant that has none for this hour
yet, so the history has a row per hour. "Changed" is read cheaply from two primary-key
ranges: audit events (uploads, versions, trash, purges, archive moves, retrievals, edits of
tags and labels) and renditions (processing results) added since the last run. Replication
records no event: replica coverage moves at the next hourly row.

The figures are measured by analytics.selectors.storage (one aggregate each).

This is the ACCOUNTING of usage. Quota ENFORCEMENT stays in files.services.quota
(`quota_confirm`, under the quota lock in the upload's transaction): files may not import
analytics, and an upload must be refused in its own transaction, not by a roll-up.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import ActivityEvent, Tenant
from analytics.models import StorageSnapshot
from analytics.selectors.storage import storage_measure
from analytics.services.rollups import cursor_get
from files.models import Rendition

log = logging.getLogger(__name__)


def storage_snapshot(*, tenant: Tenant, now: datetime | None = None) -> StorageSnapshot:
    """Write (or rewrite) the tenant's row for the current hour."""
    now = now or timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with transaction.atomic():
        figures = storage_measure(tenant=tenant)
        snapshot, _made = StorageSnapshot.objects.update_or_create(
            tenant=tenant, hour=hour, defaults={**figures, "taken_at": now}
        )
    return snapshot


def _changed_tenant_ids(*, after_event: int, after_rendition: int) -> set:
    events = ActivityEvent.objects.filter(id__gt=after_event, tenant__isnull=False).values_list("tenant_id", flat=True)
    renditions = Rendition.objects.filter(id__gt=after_rendition).values_list("tenant_id", flat=True)
    return set(events.distinct()) | set(renditions.distinct())


@contextmanager
def _exclusive(name: str) -> Iterator[bool]:
    """Whether this process got the run `name` to itself (a session advisory lock, so each
    tenant's snapshot commits on its own while it is held)."""
    key = zlib.crc32(f"analytics:{name}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        got = cursor.fetchone()[0]
    try:
        yield got
    finally:
        if got:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def storage_snapshot_due(*, now: datetime | None = None) -> dict:
    """Snapshot every tenant that changed since the last run or has no row this hour."""
    now = now or timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with _exclusive("storage") as got:
        if not got:
            return {"skipped": "another snapshot run is going on"}
        cursor = cursor_get("storage")
        last_event = ActivityEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        last_rendition = Rendition.objects.order_by("-id").values_list("id", flat=True).first() or 0
        mark = cursor.marks[-1] if cursor.marks else []
        changed = _changed_tenant_ids(after_event=cursor.last_id, after_rendition=mark[2] if len(mark) > 2 else 0)
        this_hour = StorageSnapshot.objects.filter(tenant=OuterRef("pk"), hour=hour)
        due = Tenant.objects.filter(pk__in=changed) | Tenant.objects.exclude(Exists(this_hour))
        done, failed = 0, 0
        for tenant in due.order_by("pk"):
            try:
                storage_snapshot(tenant=tenant, now=now)
                done += 1
            except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others
                log.exception("storage snapshot of tenant %s failed", tenant.slug)
                failed += 1
        cursor.last_id = last_event
        cursor.marks = [[now.timestamp(), last_event, last_rendition]]
        cursor.save(update_fields=["last_id", "marks", "updated_at"])
    return {"snapshots": done, "failed": failed}
