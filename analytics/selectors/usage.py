"""The activity series and the audit trail, read from the hourly roll-ups
(UsageHour, ActiveUserDay) and accounts.ActivityEvent."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncWeek

from accounts.models import ActivityEvent, Membership
from analytics.models import ActiveUserDay, UsageHour
from analytics.selectors.access import owners_and_admins
from files.models import File
from files.permissions import can_read_audit_trail, can_read_file_activity
from mediaportal.exceptions import Forbidden, ValidationFailed

INTERVALS = ("day", "week")
USAGE_FIELDS = ("uploads", "upload_bytes", "downloads", "views", "share_hits")


def activity_list(
    *,
    membership: Membership,
    verb: str | None = None,
    file: File | None = None,
    user: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> QuerySet[ActivityEvent]:
    """The tenant's audit trail, newest first; owners and admins only. With `file`, only the
    events targeting that file, which its owner may read too. `user` is a username; `start`
    and `end` are days (UTC), both included."""
    if file is not None:
        if not can_read_file_activity(membership=membership, file=file):
            raise Forbidden("Only the file's owner, owners and admins can read its activity.")
    elif not can_read_audit_trail(membership=membership):
        raise Forbidden("Only owners and admins can read the activity log.")
    events = ActivityEvent.objects.filter(tenant_id=membership.tenant_id).select_related("user")
    if file is not None:
        events = events.filter(target_type="file", target_id=str(file.pk))
    if verb:
        events = events.filter(verb__startswith=verb)
    if user:
        events = events.filter(user__username__iexact=user)
    if start is not None:
        events = events.filter(at__gte=datetime.combine(start, time.min, tzinfo=UTC))
    if end is not None:
        events = events.filter(at__lt=datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC))
    return events


def usage_range_check(*, start: date, end: date, interval: str) -> None:
    """400 for an interval other than day or week, an end before the start, or a range
    longer than ANALYTICS_USAGE_MAX_DAYS."""
    if interval not in INTERVALS:
        raise ValidationFailed("interval must be day or week.", code="invalid_interval")
    if end < start:
        raise ValidationFailed("to must not be before from.", code="invalid_range")
    if (end - start).days + 1 > settings.ANALYTICS_USAGE_MAX_DAYS:
        raise ValidationFailed(f"The range is at most {settings.ANALYTICS_USAGE_MAX_DAYS} days.", code="invalid_range")


def _periods(start: date, end: date, interval: str) -> list[date]:
    """Every period from the one holding `start` to the one holding `end` (weeks start on Monday)."""
    step = timedelta(days=7 if interval == "week" else 1)
    period = start - timedelta(days=start.weekday()) if interval == "week" else start
    periods = []
    while period <= end:
        periods.append(period)
        period += step
    return periods


def usage_series(*, membership: Membership, start: date, end: date, interval: Literal["day", "week"] = "day") -> dict:
    """DESIGN 5.1 `analytics/usage/`: activity per day or week (UTC) from `start` to `end`
    (both included; weeks run Monday to Sunday and are counted whole), every period listed,
    empty ones with zeros. `active_users` are the distinct users active in the period."""
    owners_and_admins(membership)
    usage_range_check(start=start, end=end, interval=interval)
    periods = _periods(start, end, interval)
    first = datetime.combine(periods[0], time.min, tzinfo=UTC)
    last = datetime.combine(periods[-1] + timedelta(days=7 if interval == "week" else 1), time.min, tzinfo=UTC)
    trunc = TruncWeek if interval == "week" else TruncDay
    hours = (
        UsageHour.objects.filter(tenant_id=membership.tenant_id, hour__gte=first, hour__lt=last)
        .annotate(period=trunc("hour", tzinfo=UTC))
        .values("period")
        .annotate(**{field: Sum(field) for field in USAGE_FIELDS})
        .order_by()
    )
    users = (
        ActiveUserDay.objects.filter(tenant_id=membership.tenant_id, day__gte=first.date(), day__lt=last.date())
        .annotate(period=trunc("day"))
        .values("period")
        .annotate(n=Count("user_id", distinct=True))
        .order_by()
    )
    counted = {_day(row.pop("period")): row for row in hours}
    active = {_day(row["period"]): row["n"] for row in users}
    results = [
        {
            "period": period.isoformat(),
            **{field: (counted.get(period) or {}).get(field) or 0 for field in USAGE_FIELDS},
            "active_users": active.get(period, 0),
        }
        for period in periods
    ]
    return {"results": results, "from": start.isoformat(), "to": end.isoformat(), "interval": interval}


def _day(value) -> date:
    return value.date() if isinstance(value, datetime) else value
