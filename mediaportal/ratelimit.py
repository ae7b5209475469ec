"""Rate limits, counted in the cache (Redis) so that every web process shares them.

One helper serves every limit: failed logins, share-link passwords and token guesses, and
anonymous API calls. A `Limit` is "at most `limit` events within `window` seconds" for one
key (a username, an address, a link).

An event takes its place in the counts *before* the work it stands for (checking a
password, looking up a token), with `cache.add` + `cache.incr` (SET NX and INCR in Redis,
both atomic): N concurrent events get N distinct counts, so only those within the limit get
through. Reading the count first and writing it after the slow check would let a whole
burst through. A refused event takes no place.

Each limit counts in slots of a tenth of its window, one key per slot number, and adds up
the slots that overlap the last window: one fixed window would let 2×N through around its
boundary, and a count that starts at the first event cannot be restarted atomically. So an
event stops counting between 1 and 1.1 windows after it happened, and `clock`, not Redis
expiry, decides which slots are current (tests move time by replacing `clock`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from mediaportal.http import client_ip

SLOTS = 10
clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int
    window: int  # seconds

    @property
    def slot_length(self) -> float:
        return self.window / SLOTS

    def slot_key(self, slot: int) -> str:
        return f"rate:{self.key}:{slot}"


@dataclass(frozen=True)
class Taken:
    """One event's places, per limit key; `retry_after` > 0 when it was refused (no places kept)."""

    places: dict[str, str] = field(default_factory=dict)
    retry_after: int = 0


def hashed(*parts: str) -> str:
    """A key part for values that should not sit in the cache as written (usernames, addresses)."""
    return hashlib.sha256("\x00".join(parts).lower().encode()).hexdigest()[:32]


def _increment(key: str, timeout: int) -> int:
    while True:
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: add it again
            continue


def _decrement(keys) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # already expired: nothing left to give back
            pass


def _neighbours(limit: Limit, slot: int) -> list[int]:
    # The earlier slots of the window, and the next one, which a web server whose clock runs
    # slightly ahead may already be counting in.
    return [s for s in range(slot - SLOTS, slot + 2) if s != slot]


def _wait(counts: dict[int, int], slot: int, limit: Limit, now: float) -> int:
    """Seconds until one more event fits the limit, given its counts per slot."""
    for later in range(slot + 1, slot + 2 * SLOTS + 3):
        if sum(counts.get(s, 0) for s in range(later - SLOTS, later + 1)) < limit.limit:
            return max(1, math.ceil(later * limit.slot_length - now))
    return limit.window


def _counts(limits: Sequence[Limit], now: float) -> list[tuple[int, dict[int, int]]]:
    """Each limit's current slot, and its other slots' counts, in one round trip."""
    slots = [int(now // limit.slot_length) for limit in limits]
    wanted = [limit.slot_key(s) for limit, slot in zip(limits, slots, strict=True) for s in _neighbours(limit, slot)]
    stored = cache.get_many(wanted)
    return [
        (slot, {s: int(stored.get(limit.slot_key(s)) or 0) for s in _neighbours(limit, slot)})
        for limit, slot in zip(limits, slots, strict=True)
    ]


def take(limits: Sequence[Limit]) -> Taken:
    """Count one event against every limit; refused (nothing counted) when one is full."""
    now = clock()
    # Each event's own place first, then the other slots: two events around a slot boundary
    # (or on web servers whose clocks differ a little) then each see the other.
    places: dict[str, str] = {}
    mine: list[int] = []
    for limit in limits:
        key = limit.slot_key(int(now // limit.slot_length))
        # Redis only has to keep a slot while it can still be counted; `clock` decides which are.
        mine.append(_increment(key, math.ceil(limit.window + 3 * limit.slot_length)))
        places[limit.key] = key
    wait = 0
    for limit, count, (slot, counts) in zip(limits, mine, _counts(limits, now), strict=True):
        if count + sum(counts.values()) > limit.limit:
            counts[slot] = count - 1  # the events before this one
            wait = max(wait, _wait(counts, slot, limit, now))
    if wait:
        _decrement(places.values())
        return Taken(retry_after=wait)
    return Taken(places=places)


def retry_after(limits: Sequence[Limit]) -> int:
    """Seconds until one more event fits every limit (0: now), counting nothing."""
    now = clock()
    wait = 0
    for limit, (slot, counts) in zip(limits, _counts(limits, now), strict=True):
        counts[slot] = int(cache.get(limit.slot_key(slot)) or 0)
        if sum(counts.values()) >= limit.limit:
            wait = max(wait, _wait(counts, slot, limit, now))
    return wait


def give_back(taken: Taken, *limits: Limit) -> None:
    """Uncount a taken event from these limits (from all of them when none is named)."""
    keys = [taken.places[limit.key] for limit in limits] if limits else list(taken.places.values())
    _decrement(keys)


def forget(limit: Limit) -> None:
    """Clear every event the limit still counts (a successful login forgives its failures)."""
    slot = int(clock() // limit.slot_length)
    cache.delete_many([limit.slot_key(s) for s in range(slot - SLOTS, slot + 2)])


def anon_limit(request, rate: str | None, scope: str = "anon") -> Limit | None:
    """The per-address limit of anonymous requests for a DRF-style rate ("120/min"); None for no rate.

    The API's anonymous throttle and the portal's anonymous forms (registration) count here
    together, so one is no way around the other.
    """
    if not rate:
        return None
    count, period = rate.split("/")
    window = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return Limit(key=f"{scope}:{hashed(client_ip(request) or 'unknown')}", limit=int(count), window=window)


class AnonRateThrottle(BaseThrottle):
    """DRF's anonymous throttle on this module's counts: `DEFAULT_THROTTLE_RATES["anon"]` per address."""

    scope = "anon"

    def allow_request(self, request, view) -> bool:
        if request.user is not None and request.user.is_authenticated:
            return True
        limit = anon_limit(request, view.settings.DEFAULT_THROTTLE_RATES.get(self.scope), self.scope)
        if limit is None:
            return True
        self._taken = take([limit])
        return not self._taken.retry_after

    def wait(self) -> float | None:
        return self._taken.retry_after
