"""Failed-login counting in the cache (Redis), shared by every web process.

Two fixed windows: failures for one username from one address (stops guessing one
account), and failures from one address across all usernames (stops spraying). A
success clears the username+address counter.
"""

from __future__ import annotations

import hashlib
import time

from django.conf import settings
from django.core.cache import cache


def _key(kind: str, value: str) -> str:
    return "login-fail:" + kind + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def _keys(username: str, ip: str | None) -> list[tuple[str, int]]:
    address = ip or "unknown"
    return [
        (_key("user-ip", f"{username}\x00{address}"), settings.LOGIN_THROTTLE_PER_USER),
        (_key("ip", address), settings.LOGIN_THROTTLE_PER_IP),
    ]


def login_blocked_for(*, username: str, ip: str | None) -> int:
    """Seconds until this username may try again from this address (0 when allowed now)."""
    now = time.time()
    wait = 0
    for key, limit in _keys(username, ip):
        entry = cache.get(key)
        if entry and entry["count"] >= limit:
            wait = max(wait, int(entry["start"] + settings.LOGIN_THROTTLE_WINDOW - now + 0.999))
    return max(wait, 0)


def login_failed(*, username: str, ip: str | None) -> None:
    now = time.time()
    window = settings.LOGIN_THROTTLE_WINDOW
    for key, _limit in _keys(username, ip):
        entry = cache.get(key)
        if not entry or entry["start"] + window <= now:
            entry = {"start": now, "count": 0}
        entry["count"] += 1
        cache.set(key, entry, timeout=max(1, int(entry["start"] + window - now + 1)))


def login_succeeded(*, username: str, ip: str | None) -> None:
    cache.delete(_keys(username, ip)[0][0])
