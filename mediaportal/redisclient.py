"""A direct client of the cache's Redis, for the few things that talk to it themselves (the
maintenance flag, the file view counter) instead of through Django's cache API."""

from __future__ import annotations

import functools

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry


@functools.cache
def cache_redis(timeout: float) -> redis.Redis:
    """A client of the cache's Redis (thread-safe, pooled) with its own timeouts and no
    retries (redis-py retries a failed connection three times by default, with backoff)."""
    return redis.Redis.from_url(
        settings.CACHES["default"]["LOCATION"],
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
