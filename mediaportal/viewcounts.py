"""Views of files (a file's page opened, its preview loaded), counted in Redis.

Views are far more frequent than the changes the audit trail records, so each one is two
HINCRBYs in one round trip on a hash per hour: field `<tenant>` counts the tenant's views,
field `<tenant>:<user>` the views of one member (what makes them an active user that day).
analytics.services.rollups folds the hashes into its hourly rows every minute; a hash
expires after a few days. Counting never fails a request: with Redis away, the view is
lost and a warning logged (at most once a minute).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from uuid import UUID

import redis
from django.conf import settings
from django.utils import timezone

from mediaportal.redisclient import cache_redis

log = logging.getLogger(__name__)

# Long enough for a roll-up that was stopped for a weekend to find them.
KEEP_SECONDS = 4 * 86400
# A view costs the request at most this long when Redis hangs.
TIMEOUT_SECONDS = 0.25
_last_warning = 0.0


def hour_key(hour: datetime) -> str:
    return f"mp:views:{hour:%Y%m%d%H}"


def view_count(*, tenant_id, user_id=None) -> None:
    """Count one view of a file in the tenant, by `user_id` when a member looked."""
    global _last_warning
    key = hour_key(timezone.now())
    try:
        pipe = cache_redis(TIMEOUT_SECONDS).pipeline(transaction=False)
        pipe.hincrby(key, str(tenant_id), 1)
        if user_id is not None:
            pipe.hincrby(key, f"{tenant_id}:{user_id}", 1)
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()
    except (redis.RedisError, OSError) as exc:
        now = time.monotonic()
        if now - _last_warning > 60:
            _last_warning = now
            log.warning("a file view was not counted (%s: %s)", type(exc).__name__, exc)


def views_read(*, hours: list[datetime]) -> dict[datetime, tuple[dict[UUID, int], set[tuple[UUID, UUID]]]]:
    """For each hour: views per tenant, and the (tenant, user) pairs that viewed. Raises
    redis errors (the roll-up runs again a minute later)."""
    pipe = cache_redis(float(settings.REDIS_SOCKET_TIMEOUT)).pipeline(transaction=False)
    for hour in hours:
        pipe.hgetall(hour_key(hour))
    counted = {}
    for hour, fields in zip(hours, pipe.execute(), strict=True):
        tenants, viewers = {}, set()
        for field, value in fields.items():
            tenant, _, user = field.decode().partition(":")
            if user:
                viewers.add((UUID(tenant), UUID(user)))
            else:
                tenants[UUID(tenant)] = int(value)
        counted[hour] = (tenants, viewers)
    return counted


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The whole hours from the one `start` is in to the one `end` is in."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    hours = []
    while hour <= end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours
