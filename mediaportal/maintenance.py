"""Maintenance mode: the site answers 503 (with Retry-After) while an operator's command, a
restore, rebuilds the database under the running processes.

The flag is a key in Redis (the cache's server), which every web process on every host
reads, with a TTL the command refreshes while it runs: a command that dies leaves the site
in maintenance for at most TTL_SECONDS. Web processes read it at most once a second, with
a short timeout of its own, so a hung Redis costs a request a quarter of a second at most
once every few seconds on top of what the cache and sessions cost it. When Redis cannot be
read, a web process takes the site for open (a request that reaches a database being
restored waits for the restore's locks or fails as a 503 `database_unavailable`); a command
that cannot raise the flag stops before touching anything (`MaintenanceUnavailable`).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from django.conf import settings
from django.utils import timezone

from mediaportal.redisclient import cache_redis

log = logging.getLogger(__name__)

KEY = "mediaportal:maintenance"
TTL_SECONDS = 60
REFRESH_SECONDS = 15
# How long a web process trusts what it last read; after a failed read, longer, so a hung
# Redis is not waited for on every request.
READ_EVERY_SECONDS = 1.0
UNREADABLE_RETRY_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 0.25
# How long a command waits after raising the flag before it starts: by then every web
# process has read it again, and requests that were already past the check have finished
# their queries (or hold a connection that the restore ends).
SETTLE_SECONDS = 3.0
# What clients are told to wait before asking again.
RETRY_AFTER_SECONDS = 30

_memo: tuple[float, dict | None, float] = (0.0, None, 0.0)  # read at, state, trusted for
_last_warning = 0.0


class MaintenanceUnavailable(RuntimeError):
    """The flag could not be written (Redis is away): the command must not go on."""


def maintenance_state() -> dict | None:
    """What the running maintenance is about ({"reason", "since", "retry_after"}), or None."""
    global _memo, _last_warning
    now = time.monotonic()
    read_at, state, trusted = _memo
    if now - read_at < trusted:
        return state
    try:
        raw = cache_redis(READ_TIMEOUT_SECONDS).get(KEY)
        state, trusted = (json.loads(raw) if raw else None), READ_EVERY_SECONDS
    except (redis.RedisError, OSError, ValueError) as exc:
        if now - _last_warning > 60:
            _last_warning = now
            log.warning("maintenance flag unreadable (%s: %s); serving as usual", type(exc).__name__, exc)
        state, trusted = None, UNREADABLE_RETRY_SECONDS
    _memo = (now, state, trusted)
    return state


def _write(state: dict) -> None:
    global _memo
    try:
        cache_redis(float(settings.REDIS_SOCKET_TIMEOUT)).set(KEY, json.dumps(state), ex=TTL_SECONDS)
    except (redis.RedisError, OSError) as exc:
        raise MaintenanceUnavailable(f"the maintenance flag could not be set in Redis: {exc}") from exc
    _memo = (time.monotonic(), state, READ_EVERY_SECONDS)


def maintenance_begin(*, reason: str) -> dict:
    """Raise the flag (for TTL_SECONDS: refresh it, or use `maintenance_mode`)."""
    state = {"reason": reason, "since": timezone.now().isoformat(), "retry_after": RETRY_AFTER_SECONDS}
    _write(state)
    log.warning("maintenance mode on: %s", reason)
    return state


def maintenance_end() -> None:
    global _memo
    try:
        cache_redis(float(settings.REDIS_SOCKET_TIMEOUT)).delete(KEY)
    except (redis.RedisError, OSError) as exc:
        log.warning("maintenance flag not removed (%s); it expires within %d s", exc, TTL_SECONDS)
    _memo = (0.0, None, 0.0)
    log.warning("maintenance mode off")


@contextmanager
def maintenance_mode(*, reason: str, settle: float = SETTLE_SECONDS) -> Iterator[dict]:
    """The site in maintenance for the duration of the block, the flag refreshed meanwhile;
    the block starts `settle` seconds after the flag is raised."""
    state = maintenance_begin(reason=reason)
    stop = threading.Event()

    def refresh() -> None:
        while not stop.wait(REFRESH_SECONDS):
            try:
                _write(state)
            except MaintenanceUnavailable as exc:
                log.warning("%s; retrying in %d s", exc, REFRESH_SECONDS)

    refresher = threading.Thread(target=refresh, name="maintenance-refresh", daemon=True)
    refresher.start()
    try:
        time.sleep(settle)
        yield state
    finally:
        stop.set()
        refresher.join(5)
        maintenance_end()
