"""Failed-login limits, counted in the cache (Redis) so every web process shares them.

Three rules, each "at most N failures within LOGIN_THROTTLE_WINDOW seconds":
one username from one address (guessing one account from one place), one username from
any address (guessing one account from many places), one address across all usernames
(spraying many accounts).

An attempt takes its place in the counts *before* the password is checked, with
`cache.add` + `cache.incr` (SET NX and INCR in Redis, both atomic): N concurrent attempts
get N distinct counts, so only those within the limit reach the slow password hash.
Reading the count first and writing it after the check let a whole burst through. A
refused attempt gives its place back, and so does a success, which also clears the
username+address count.

Each rule counts in slots of a tenth of the window, one key per slot number, and adds up
the slots that overlap the last window. One fixed window would let 2×N failures through
around its boundary, and a count that starts at the first failure cannot be restarted
atomically. So a failure stops counting between 1 and 1.1 windows after it happened, and
`clock`, not Redis expiry, decides which slots are current: tests move time by replacing
`clock`.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

SLOTS = 10
clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class _Rule:
    key: str
    limit: int


@dataclass(frozen=True)
class LoginAttempt:
    """One attempt's place in each rule's current slot; `retry_after` > 0 when it was refused."""

    keys: tuple[str, ...]
    user_address_key: str
    retry_after: int = 0


def _hashed(kind: str, value: str) -> str:
    return "login-fail:" + kind + ":" + hashlib.sha256(value.lower().encode()).hexdigest()[:32]


def _rules(username: str, ip: str | None) -> list[_Rule]:
    address = ip or "unknown"
    return [
        _Rule(_hashed("user-ip", f"{username}\x00{address}"), settings.LOGIN_THROTTLE_PER_USER),
        _Rule(_hashed("user", username), settings.LOGIN_THROTTLE_PER_USERNAME),
        _Rule(_hashed("ip", address), settings.LOGIN_THROTTLE_PER_IP),
    ]


def _slot_key(rule_key: str, slot: int) -> str:
    return f"{rule_key}:{slot}"


def _increment(key: str, timeout: int) -> int:
    while True:
        cache.add(key, 0, timeout=timeout)
        try:
            return cache.incr(key)
        except ValueError:  # expired between add and incr: add it again
            continue


def _release(keys: tuple[str, ...]) -> None:
    for key in keys:
        try:
            cache.decr(key)
        except ValueError:  # already expired: nothing left to give back
            pass


def _wait(counts: dict[int, int], slot: int, limit: int, now: float, length: float) -> int:
    """Seconds until one more failure fits the rule, given the counts per slot."""
    for later in range(slot + 1, slot + 2 * SLOTS + 3):
        if sum(counts.get(s, 0) for s in range(later - SLOTS, later + 1)) < limit:
            return max(1, math.ceil(later * length - now))
    return settings.LOGIN_THROTTLE_WINDOW


def login_attempt(*, username: str, ip: str | None) -> LoginAttempt:
    """Count one login attempt as a failure until it succeeds; refused when a limit is reached."""
    length = settings.LOGIN_THROTTLE_WINDOW / SLOTS
    now = clock()
    slot = int(now // length)
    # Redis only has to keep a slot while it can still be counted; `clock` decides which are.
    timeout = math.ceil(settings.LOGIN_THROTTLE_WINDOW + 3 * length)
    rules = _rules(username, ip)
    keys = tuple(_slot_key(rule.key, slot) for rule in rules)
    mine = [_increment(key, timeout) for key in keys]
    # The earlier slots of the window, and the next one, which a web server whose clock runs
    # slightly ahead may already be counting in.
    neighbours = [s for s in range(slot - SLOTS, slot + 2) if s != slot]
    stored = cache.get_many([_slot_key(rule.key, s) for rule in rules for s in neighbours])
    wait = 0
    for rule, count in zip(rules, mine, strict=True):
        counts = {s: int(stored.get(_slot_key(rule.key, s)) or 0) for s in neighbours}
        if count + sum(counts.values()) > rule.limit:
            counts[slot] = count - 1  # the attempts before this one
            wait = max(wait, _wait(counts, slot, rule.limit, now, length))
    if wait:
        _release(keys)
    return LoginAttempt(keys=keys, user_address_key=rules[0].key, retry_after=wait)


def login_succeeded(attempt: LoginAttempt) -> None:
    """The attempt was not a failure: give its places back and forget this username+address's failures."""
    _release(attempt.keys[1:])
    slot = int(clock() // (settings.LOGIN_THROTTLE_WINDOW / SLOTS))
    cache.delete_many([_slot_key(attempt.user_address_key, s) for s in range(slot - SLOTS, slot + 2)])
