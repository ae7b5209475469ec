"""The one rate-limit helper (login failures, share passwords and token guesses, anonymous API)."""

from __future__ import annotations

import pytest

from mediaportal import ratelimit


@pytest.fixture
def clock(monkeypatch):
    now = {"t": 1_000.0}
    monkeypatch.setattr(ratelimit, "clock", lambda: now["t"])
    return now


def test_events_within_the_limit_pass_and_the_next_waits_for_the_window(clock):
    limit = ratelimit.Limit("test:plain", 3, 100)
    assert [ratelimit.take([limit]).retry_after for _ in range(3)] == [0, 0, 0]
    refused = ratelimit.take([limit])
    assert 90 <= refused.retry_after <= 110
    clock["t"] += refused.retry_after
    assert ratelimit.take([limit]).retry_after == 0


def test_two_events_around_a_slot_boundary_never_both_pass(clock, monkeypatch):
    """One event counts itself before it reads the others: whichever reads second sees the first."""
    limit = ratelimit.Limit("test:boundary", 1, 100)
    real_counts = ratelimit._counts
    outcome = {}

    def second_event_meanwhile(limits, now):
        counts = real_counts(limits, now)
        if "second" not in outcome:  # the second event runs whole right after the first one's read
            outcome["second"] = None
            clock["t"] = 1_010.01  # the next slot: the other web server's clock, or a moment later
            outcome["second"] = ratelimit.take([limit]).retry_after
            clock["t"] = 1_009.99
        return counts

    clock["t"] = 1_009.99
    monkeypatch.setattr(ratelimit, "_counts", second_event_meanwhile)
    first = ratelimit.take([limit]).retry_after
    assert not (first == 0 and outcome["second"] == 0)


def test_a_refused_event_takes_no_place_and_give_back_frees_one(clock):
    per_address, per_link = ratelimit.Limit("test:a", 2, 100), ratelimit.Limit("test:b", 1, 100)
    taken = ratelimit.take([per_address, per_link])
    assert taken.retry_after == 0
    assert ratelimit.take([per_address, per_link]).retry_after > 0  # the link's limit is full
    ratelimit.give_back(taken, per_link)
    # The refused event left nothing behind, and the given-back one freed the link's place.
    assert ratelimit.take([per_address, per_link]).retry_after == 0
    assert ratelimit.take([per_address]).retry_after > 0


@pytest.mark.django_db
def test_anonymous_throttle_counts_by_the_trusted_client_address_not_x_forwarded_for(settings, api):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "3/min"}}
    settings.TRUSTED_PROXY_COUNT = 0

    def register(n: int):
        body = {"username": f"spoof{n}", "email": f"spoof{n}@example.com", "password": "a long secret phrase"}
        return api.post(
            "/api/v1/auth/register/",
            body,
            format="json",
            REMOTE_ADDR="198.51.100.7",
            HTTP_X_FORWARDED_FOR=f"10.0.0.{n}",
        )

    answers = [register(n).status_code for n in range(4)]

    assert answers == [201, 201, 201, 429]
