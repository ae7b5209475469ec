"""Maintenance mode: the site answers 503 (with Retry-After) while an operator's command, a
restore, rebuilds the database under the running processes.

The flag is a key in Redis (the cache), which every web process on every host reads, with
a TTL the command refreshes while it runs: a command that dies leaves the site in
maintenance for at most TTL_SECONDS. Web processes read it at most once a second, so a
request costs one Redis round trip per second and process, not one each. When Redis cannot
be read, a web process takes the site for open (a request that reaches a database being
restored waits for the restore's locks or fails as a 503 `database_unavailable`); a command
that cannot raise the flag stops before touching anything (`MaintenanceUnavailable`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache
from django.utils import timezone

log = logging.getLogger(__name__)

KEY = "maintenance"
TTL_SECONDS = 60
REFRESH_SECONDS = 15
# How long a web process trusts what it last read.
READ_EVERY_SECONDS = 1.0
# How long a command waits after raising the flag before it starts: by then every web
# process has read it again, and requests that were already past the check have finished
# their queries (or hold a connection that the restore ends).
SETTLE_SECONDS = 3.0
# What clients are told to wait before asking again.
RETRY_AFTER_SECONDS = 30

_memo: tuple[float, dict | None] = (0.0, None)
_last_warning = 0.0


class MaintenanceUnavailable(RuntimeError):
    """The flag could not be written (Redis is away): the command must not go on."""


def maintenance_state() -> dict | None:
    """What the running maintenance is about ({"reason", "since", "retry_after"}), or None."""
    global _memo, _last_warning
    now = time.monotonic()
    read_at, state = _memo
    if now - read_at < READ_EVERY_SECONDS:
        return state
    try:
        state = cache.get(KEY)
    except Exception as exc:  # noqa: BLE001 - any Redis failure: the site stays open
        if now - _last_warning > 60:
            _last_warning = now
            log.warning("maintenance flag unreadable (%s: %s); serving as usual", type(exc).__name__, exc)
        state = None
    _memo = (now, state)
    return state


def _write(state: dict) -> None:
    global _memo
    try:
        cache.set(KEY, state, timeout=TTL_SECONDS)
    except Exception as exc:  # noqa: BLE001 - whatever Redis raised, the flag is not set
        raise MaintenanceUnavailable(f"the maintenance flag could not be set in Redis: {exc}") from exc
    _memo = (time.monotonic(), state)


def maintenance_begin(*, reason: str) -> dict:
    """Raise the flag (for TTL_SECONDS: refresh it, or use `maintenance_mode`)."""
    state = {"reason": reason, "since": timezone.now().isoformat(), "retry_after": RETRY_AFTER_SECONDS}
    _write(state)
    log.warning("maintenance mode on: %s", reason)
    return state


def maintenance_end() -> None:
    global _memo
    try:
        cache.delete(KEY)
    except Exception as exc:  # noqa: BLE001 - the TTL ends it anyway
        log.warning("maintenance flag not removed (%s); it expires within %d s", exc, TTL_SECONDS)
    _memo = (0.0, None)
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
