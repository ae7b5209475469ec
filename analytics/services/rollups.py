"""The usage roll-up: the audit trail and the view counter folded into hourly rows.

Every minute (analytics.roll_up_usage) it reads the audit events added since it last ran,
by id range on the primary key, and recounts each (tenant, hour) bucket they fall in from
all of that bucket's events (the (tenant, at) index): a bucket is always recounted whole,
so running twice, or over events already counted, changes nothing. Ids are taken when a
row is inserted, not when it commits, so each run reads again from the highest id seen
ANALYTICS_LATE_COMMIT_SECONDS ago (RollupCursor.marks): an event whose transaction commits
late still lands in its bucket, even when its `at` is hours old. `analytics_backfill`
recounts the buckets of a time range for the history before the roll-ups started.

What is counted (DESIGN 5.1, "a share hit is an opened share page or a download through a
link"): see VERBS. A download through a file link records both `share.downloaded` and
`file.downloaded`, so it is one download and one share hit; a ZIP through a folder link is
one download (`share.zip_downloaded`), a member's ZIP one per file in it.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import ActivityEvent
from analytics.models import RollupCursor
from mediaportal import viewcounts

log = logging.getLogger(__name__)

UPLOAD_VERBS = ["file.uploaded", "file.version_uploaded"]
DOWNLOAD_VERBS = ["file.downloaded", "share.zip_downloaded"]
SHARE_HIT_VERBS = ["share.viewed", "share.downloaded", "share.zip_downloaded"]
VERBS = sorted({*UPLOAD_VERBS, *DOWNLOAD_VERBS, *SHARE_HIT_VERBS})

# Recounts the buckets that the events selected by {touched} (a WHERE clause on the audit
# trail) fall in; `views` is the counter's, left as it is.
_RECOUNT = """
WITH touched AS (
    SELECT DISTINCT tenant_id, date_trunc('hour', at, 'UTC') AS hour
    FROM accounts_activityevent
    WHERE tenant_id IS NOT NULL AND verb = ANY(%(verbs)s) AND {touched}
)
INSERT INTO analytics_usagehour (tenant_id, hour, uploads, upload_bytes, downloads, share_hits, views)
SELECT t.tenant_id, t.hour, c.uploads, c.upload_bytes, c.downloads, c.share_hits, 0
FROM touched t
-- LATERAL: each bucket's events are read by the (tenant, at) index, one hour at a time. As a
-- join, the planner prefers merging on the tenant, which reads the tenant's whole history.
CROSS JOIN LATERAL (
    SELECT
        count(*) FILTER (WHERE e.verb = ANY(%(uploads)s)) AS uploads,
        coalesce(sum(CASE WHEN jsonb_typeof(e.data -> 'size') = 'number' THEN (e.data ->> 'size')::bigint END)
            FILTER (WHERE e.verb = ANY(%(uploads)s)), 0) AS upload_bytes,
        count(*) FILTER (WHERE e.verb = ANY(%(downloads)s)) AS downloads,
        count(*) FILTER (WHERE e.verb = ANY(%(share_hits)s)) AS share_hits
    FROM accounts_activityevent e
    WHERE e.tenant_id = t.tenant_id AND e.at >= t.hour AND e.at < t.hour + interval '1 hour'
        AND e.verb = ANY(%(verbs)s)
) c
ON CONFLICT (tenant_id, hour) DO UPDATE SET
    uploads = EXCLUDED.uploads, upload_bytes = EXCLUDED.upload_bytes,
    downloads = EXCLUDED.downloads, share_hits = EXCLUDED.share_hits
"""
# Anybody who did anything in a tenant that day is one of its active users.
_ACTIVE = """
INSERT INTO analytics_activeuserday (tenant_id, day, user_id)
SELECT DISTINCT tenant_id, (at AT TIME ZONE 'UTC')::date, user_id
FROM accounts_activityevent
WHERE tenant_id IS NOT NULL AND user_id IS NOT NULL AND {touched}
ON CONFLICT DO NOTHING
"""
_BY_IDS = "id > %(low)s AND id <= %(high)s"
_BY_TIME = "tenant_id = %(tenant)s AND at >= %(start)s AND at < %(end)s"
# Views from the counter: the latest count of an hour, never less than what was folded.
_VIEWS = """
INSERT INTO analytics_usagehour (tenant_id, hour, views, uploads, upload_bytes, downloads, share_hits)
SELECT v.tenant_id, v.hour, v.views, 0, 0, 0, 0
FROM unnest(%s::uuid[], %s::timestamptz[], %s::bigint[]) AS v(tenant_id, hour, views)
JOIN accounts_tenant t ON t.id = v.tenant_id
ON CONFLICT (tenant_id, hour) DO UPDATE SET views = GREATEST(analytics_usagehour.views, EXCLUDED.views)
"""
_VIEWERS = """
INSERT INTO analytics_activeuserday (tenant_id, day, user_id)
SELECT v.tenant_id, v.day, v.user_id
FROM unnest(%s::uuid[], %s::date[], %s::uuid[]) AS v(tenant_id, day, user_id)
JOIN accounts_tenant t ON t.id = v.tenant_id
ON CONFLICT DO NOTHING
"""


def _params(**extra) -> dict:
    return {
        "verbs": VERBS,
        "uploads": UPLOAD_VERBS,
        "downloads": DOWNLOAD_VERBS,
        "share_hits": SHARE_HIT_VERBS,
        **extra,
    }


def _recount(where: str, params: dict) -> int:
    """Recount the buckets of the events `where` selects; how many buckets."""
    with connection.cursor() as cursor:
        cursor.execute(_RECOUNT.format(touched=where), params)
        buckets = cursor.rowcount
        cursor.execute(_ACTIVE.format(touched=where), params)
    return buckets


def cursor_get(name: str, *, lock: bool = False) -> RollupCursor | None:
    """The roll-up's cursor (made at the trail's end when missing); with `lock`, held until
    the transaction ends, or None when another run holds it."""
    if not RollupCursor.objects.filter(name=name).exists():
        last = ActivityEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        log.warning("roll-up %s starts at event %d; run analytics_backfill for what came before", name, last)
        RollupCursor.objects.get_or_create(name=name, defaults={"last_id": last, "marks": [[0, last]]})
    cursors = RollupCursor.objects.filter(name=name)
    return cursors.select_for_update(skip_locked=True).first() if lock else cursors.first()


def _window(marks: list, now: float) -> tuple[int, list]:
    """The id to read from (the highest seen a safety window ago) and the marks worth keeping."""
    late = settings.ANALYTICS_LATE_COMMIT_SECONDS
    old = [mark for mark in marks if mark[0] <= now - late]
    recent = [mark for mark in marks if mark[0] > now - late]
    start = old[-1] if old else (marks[0] if marks else [0, 0])
    return start[1], [start, *recent]


@transaction.atomic
def usage_roll_up() -> dict:
    """One run of the roll-up (see the module); what it did, for the task's log line."""
    cursor = cursor_get("usage", lock=True)
    if cursor is None:
        return {"skipped": "another roll-up is running"}
    now = timezone.now()
    high = ActivityEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    high = max(high, cursor.last_id)
    low, marks = _window(cursor.marks, now.timestamp())
    buckets = _recount(_BY_IDS, _params(low=low, high=high))
    last_run = datetime.fromtimestamp(marks[-1][0], tz=now.tzinfo) if marks else now
    views = _views_fold(since=last_run, now=now)
    cursor.last_id, cursor.marks = high, [*marks, [now.timestamp(), high]]
    cursor.save(update_fields=["last_id", "marks", "updated_at"])
    return {"events_from": low, "events_to": high, "buckets": buckets, "view_hours": views}


def _views_fold(*, since: datetime, now: datetime) -> int:
    """Fold the view counter's hours since the last run (and the hour before it, counted
    on after that run) into the rows; how many hours had views."""
    start = max(min(since, now - timedelta(hours=1)), now - timedelta(seconds=viewcounts.KEEP_SECONDS))
    counted = viewcounts.views_read(hours=viewcounts.hours_between(start, now))
    views, viewers = ([], [], []), ([], [], [])
    for hour, (tenants, users) in counted.items():
        for tenant_id, n in tenants.items():
            for column, value in zip(views, (tenant_id, hour, n), strict=True):
                column.append(value)
        for tenant_id, user_id in users:
            for column, value in zip(viewers, (tenant_id, hour.date(), user_id), strict=True):
                column.append(value)
    with connection.cursor() as cursor:
        if views[0]:
            cursor.execute(_VIEWS, list(views))
        if viewers[0]:
            cursor.execute(_VIEWERS, list(viewers))
    return sum(1 for tenants, _users in counted.values() if tenants)


def usage_recount(*, tenant_id, start: datetime, end: datetime) -> int:
    """Recount the tenant's buckets with events in [start, end) (the backfill); how many."""
    with transaction.atomic():
        return _recount(_BY_TIME, _params(tenant=tenant_id, start=start, end=end))


def usage_backfill_plan(*, tenant_ids: list, since: date | None) -> list[tuple]:
    """The (tenant id, day) chunks a backfill recounts: each day from `since` (or the
    tenant's first event) to today (UTC)."""
    today = timezone.now().date()
    plan = []
    for tenant_id in tenant_ids:
        first = since
        if first is None:
            at = ActivityEvent.objects.filter(tenant_id=tenant_id).order_by("at").values_list("at", flat=True).first()
            first = at.astimezone(UTC).date() if at else today
        day = first
        while day <= today:
            plan.append((tenant_id, day))
            day += timedelta(days=1)
    return plan


def usage_backfill_day(*, tenant_id, day: date) -> int:
    """Recount the tenant's buckets of one day (UTC); how many had events."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return usage_recount(tenant_id=tenant_id, start=start, end=start + timedelta(days=1))
