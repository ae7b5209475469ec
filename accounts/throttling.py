"""Failed-login limits: the API's, the portal's and the admin's login all count here.

Three rules, each "at most N failures within LOGIN_THROTTLE_WINDOW seconds": one username
from one address (guessing one account from one place), one username from any address
(guessing one account from many places), one address across all usernames (spraying many
accounts). The per-username limit is higher, as anyone can spend it to lock an account's
password login for a window.

An attempt counts as a failure from the start (see mediaportal.ratelimit) until it
succeeds; a success gives its places back and forgives that username's failures from that
address.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from mediaportal import ratelimit


@dataclass(frozen=True)
class LoginAttempt:
    rules: tuple[ratelimit.Limit, ...]
    taken: ratelimit.Taken

    @property
    def retry_after(self) -> int:
        return self.taken.retry_after


def _rules(username: str, ip: str | None) -> tuple[ratelimit.Limit, ...]:
    address = ip or "unknown"
    window = settings.LOGIN_THROTTLE_WINDOW
    return (
        ratelimit.Limit(
            f"login-fail:user-ip:{ratelimit.hashed(username, address)}", settings.LOGIN_THROTTLE_PER_USER, window
        ),
        ratelimit.Limit(f"login-fail:user:{ratelimit.hashed(username)}", settings.LOGIN_THROTTLE_PER_USERNAME, window),
        ratelimit.Limit(f"login-fail:ip:{ratelimit.hashed(address)}", settings.LOGIN_THROTTLE_PER_IP, window),
    )


def login_attempt(*, username: str, ip: str | None) -> LoginAttempt:
    """Count one login attempt as a failure until it succeeds; refused when a limit is reached."""
    rules = _rules(username, ip)
    return LoginAttempt(rules=rules, taken=ratelimit.take(rules))


def login_succeeded(attempt: LoginAttempt) -> None:
    """The attempt was not a failure: give its places back and forget this username+address's failures."""
    user_address, *others = attempt.rules
    ratelimit.give_back(attempt.taken, *others)
    ratelimit.forget(user_address)
