"""Browser sessions (list, sign out one, sign out the others), the idle timeout, and sign-in
events in the audit trail, over HTTP through the portal and the API."""

from __future__ import annotations

import time
from importlib import import_module
from types import SimpleNamespace

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value, yield_hotp_counters_from_time
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from accounts import middleware, useragent
from accounts.models import ActivityEvent
from accounts.receivers import sign_in_method
from accounts.services.users import token_create
from tests.factories import PASSWORD, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def browser(user, agent: str = FIREFOX, ip: str = "192.0.2.10") -> Client:
    """A browser signed in through the login page."""
    client = Client(HTTP_USER_AGENT=agent, REMOTE_ADDR=ip)
    response = client.post("/login/", {"login": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content[:300]
    return client


def session_exists(client: Client) -> bool:
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    return import_module(settings.SESSION_ENGINE).SessionStore().exists(key)


def is_signed_in(client: Client) -> bool:
    return client.get("/api/v1/auth/me/").status_code == 200


def logins(user) -> list[ActivityEvent]:
    return list(ActivityEvent.objects.filter(verb="user.login", user=user).order_by("at"))


# --- Sessions over the API ---------------------------------------------------------------


def test_the_session_list_shows_each_browser_and_marks_the_caller():
    user = UserFactory()
    firefox, iphone = browser(user), browser(user, SAFARI_IOS, "198.51.100.7")
    iphone.get("/")
    results = firefox.get("/api/v1/auth/sessions/").json()["results"]
    assert len(results) == 2
    mine = next(r for r in results if r["current"])
    other = next(r for r in results if not r["current"])
    assert mine["ip"] == "192.0.2.10" and mine["user_agent"] == FIREFOX and mine["browser"] == "Firefox 128 on Linux"
    assert other["ip"] == "198.51.100.7" and other["browser"] == "Safari 17 on iOS"
    assert set(mine) >= {"id", "ip", "user_agent", "created_at", "last_seen_at", "current"}
    # Nobody else's sessions, and a token is no session of its own.
    assert client_for(UserFactory()).get("/api/v1/auth/sessions/").json()["results"] == []
    assert not any(r["current"] for r in client_for(user).get("/api/v1/auth/sessions/").json()["results"])


def test_ending_a_session_deletes_it_and_its_browser_is_anonymous_at_once():
    user = UserFactory()
    firefox, iphone = browser(user), browser(user, SAFARI_IOS)
    assert is_signed_in(iphone)
    other = next(r for r in firefox.get("/api/v1/auth/sessions/").json()["results"] if not r["current"])
    assert firefox.delete(f"/api/v1/auth/sessions/{other['id']}/").status_code == 204
    assert not session_exists(iphone)  # the cache entry itself is gone
    assert not is_signed_in(iphone)
    assert iphone.get("/").url.startswith("/login/")
    assert is_signed_in(firefox)
    assert [r["current"] for r in firefox.get("/api/v1/auth/sessions/").json()["results"]] == [True]
    event = ActivityEvent.objects.get(verb="user.sessions_ended")
    assert event.user == user and event.tenant is None and event.data["count"] == 1
    assert event.data["sessions"][0]["user_agent"] == SAFARI_IOS


def test_ending_the_callers_own_session_signs_it_out():
    user = UserFactory()
    firefox = browser(user)
    mine = firefox.get("/api/v1/auth/sessions/").json()["results"][0]
    assert firefox.delete(f"/api/v1/auth/sessions/{mine['id']}/").status_code == 204
    assert not is_signed_in(firefox)
    assert not UserSession.objects.filter(user=user).exists()


def test_another_users_session_and_unknown_ids_are_404():
    victim = browser(UserFactory())
    victim.get("/")
    victim_id = UserSession.objects.get().pk
    attacker = browser(UserFactory(), SAFARI_IOS)
    for session_id in (victim_id, 999999):
        response = attacker.delete(f"/api/v1/auth/sessions/{session_id}/")
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert is_signed_in(victim)


def test_sign_out_others_from_a_session_keeps_it_and_from_a_token_ends_all():
    user = UserFactory()
    first, second, third = browser(user), browser(user, SAFARI_IOS), browser(user, "curl/8.5.0")
    response = first.post("/api/v1/auth/sessions/sign-out-others/")
    assert response.status_code == 200 and response.json() == {"ended": 2}
    assert is_signed_in(first) and not is_signed_in(second) and not is_signed_in(third)

    again = browser(user, SAFARI_IOS)
    assert client_for(user).post("/api/v1/auth/sessions/sign-out-others/").json() == {"ended": 2}
    assert not is_signed_in(first) and not is_signed_in(again)


def test_ended_sessions_drop_out_of_the_list():
    user = UserFactory()
    firefox, iphone = browser(user), browser(user, SAFARI_IOS)
    iphone.post("/logout/")
    assert [r["current"] for r in firefox.get("/api/v1/auth/sessions/").json()["results"]] == [True]


# --- The portal's session page ----------------------------------------------------------


def test_the_session_page_lists_browsers_and_signs_out_one_or_all_others():
    user = UserFactory()
    firefox, iphone, curl = browser(user), browser(user, SAFARI_IOS, "198.51.100.7"), browser(user, "curl/8.5.0")
    page = firefox.get("/accounts/sessions/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Firefox 128 on Linux" in html and "Safari 17 on iOS" in html and "198.51.100.7" in html
    assert html.count("This session") == 1
    assert "Sign out all other sessions" in html
    assert 'aria-label="Your account"' in html  # in the account frame

    iphone_id = UserSession.objects.get(user_agent=SAFARI_IOS).pk
    ended = firefox.post(f"/accounts/sessions/{iphone_id}/end/", follow=True)
    assert "Signed out Safari 17 on iOS" in ended.content.decode()
    assert not is_signed_in(iphone) and is_signed_in(curl)

    firefox.post("/accounts/sessions/")
    assert not is_signed_in(curl) and is_signed_in(firefox)
    assert "This is the only browser signed in." in firefox.get("/accounts/sessions/").content.decode()
    # Another user's session cannot be ended from here either.
    stranger = browser(UserFactory(), SAFARI_IOS)
    stranger.get("/")
    stranger_id = UserSession.objects.exclude(user=user).get().pk
    assert firefox.post(f"/accounts/sessions/{stranger_id}/end/").status_code == 404
    assert firefox.get(f"/accounts/sessions/{stranger_id}/end/").status_code == 405
    assert is_signed_in(stranger)


def test_the_session_page_shows_recent_sign_ins_with_failures():
    user = UserFactory(username="quinn")
    Client(HTTP_USER_AGENT=SAFARI_IOS, REMOTE_ADDR="203.0.113.9").post(
        "/login/", {"login": "quinn", "password": "wrong"}
    )
    firefox = browser(user)
    html = firefox.get("/accounts/sessions/").content.decode()
    assert "Recent sign-ins" in html
    assert "Refused" in html and "wrong password" in html and "203.0.113.9" in html
    assert "Signed in" in html and "password" in html


# --- Sign-in events -----------------------------------------------------------------------


def test_a_portal_sign_in_and_sign_out_are_recorded_with_address_and_agent():
    user = UserFactory()
    client = browser(user, FIREFOX, "192.0.2.44")
    [event] = logins(user)
    assert event.tenant is None and event.ip == "192.0.2.44" and event.target_id == str(user.pk)
    assert event.data == {"user_agent": FIREFOX, "method": "password"}
    client.post("/logout/")
    out = ActivityEvent.objects.get(verb="user.logout")
    assert out.user == user and out.ip == "192.0.2.44"
    assert out.data == {"user_agent": FIREFOX, "method": "session", "reason": "signed_out"}


def test_the_user_agent_is_cut_to_300_characters():
    user = UserFactory()
    browser(user, "X" * 1000)
    assert logins(user)[0].data["user_agent"] == "X" * 300


def test_failed_and_throttled_portal_sign_ins_are_recorded(settings):
    settings.LOGIN_THROTTLE_PER_USER = 2
    user = UserFactory(username="rita")
    client = Client(HTTP_USER_AGENT=FIREFOX, REMOTE_ADDR="192.0.2.5")
    for _ in range(3):
        client.post("/login/", {"login": "Rita", "password": "nope"})
    client.post("/login/", {"login": "nobody-" + "x" * 300, "password": "nope"})
    failed = list(ActivityEvent.objects.filter(verb="user.login_failed").order_by("at"))
    assert [e.data["reason"] for e in failed] == ["invalid_credentials"] * 2 + ["throttled", "invalid_credentials"]
    for event in failed[:3]:
        assert event.tenant is None and event.user is None and event.ip == "192.0.2.5"
        assert event.target_id == str(user.pk)  # the account it named
        assert event.data["username"] == "Rita" and event.data["method"] == "password"
    assert failed[3].target_id == "" and len(failed[3].data["username"]) == 150
    assert not logins(user)


def test_an_api_login_is_recorded_once_with_method_token():
    user = UserFactory(username="sam")
    client = Client(HTTP_USER_AGENT="python-requests/2.32.3", REMOTE_ADDR="192.0.2.8")
    ok = client.post("/api/v1/auth/login/", {"username": "sam", "password": PASSWORD}, content_type="application/json")
    assert ok.status_code == 200
    [event] = logins(user)
    assert event.ip == "192.0.2.8"
    assert event.data == {"user_agent": "python-requests/2.32.3", "method": "token"}
    bad = client.post("/api/v1/auth/login/", {"username": "sam", "password": "x"}, content_type="application/json")
    assert bad.status_code == 401
    failed = ActivityEvent.objects.get(verb="user.login_failed")
    assert failed.target_id == str(user.pk) and failed.data["method"] == "token"
    assert failed.data["reason"] == "invalid_credentials"


def test_an_api_logout_with_a_token_is_a_sign_out():
    user = UserFactory()
    client = client_for(user)
    assert client.post("/api/v1/auth/logout/", HTTP_USER_AGENT="curl/8.5.0").status_code == 204
    event = ActivityEvent.objects.get(verb="user.logout")
    assert event.user == user and event.data["method"] == "token"


def test_a_throttled_api_login_is_recorded(settings):
    settings.LOGIN_THROTTLE_PER_USER = 1
    UserFactory(username="tess")
    client = Client(REMOTE_ADDR="192.0.2.9")
    for _ in range(2):
        client.post("/api/v1/auth/login/", {"username": "tess", "password": "x"}, content_type="application/json")
    reasons = [e.data["reason"] for e in ActivityEvent.objects.filter(verb="user.login_failed").order_by("at")]
    assert reasons == ["invalid_credentials", "throttled"]


def test_registration_signs_in_with_method_registration():
    client = Client(HTTP_USER_AGENT=FIREFOX)
    client.post(
        "/register/", {"username": "uma", "email": "uma@example.com", "password": PASSWORD, "tenant_name": "Uma"}
    )
    [event] = ActivityEvent.objects.filter(verb="user.login")
    assert event.user.username == "uma" and event.data["method"] == "registration"


def test_a_two_factor_sign_in_is_recorded_once_when_the_code_completes_it():
    user = UserFactory()
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = Client(HTTP_USER_AGENT=FIREFOX)
    step = client.post("/login/", {"login": user.username, "password": PASSWORD})
    assert step.status_code == 302 and "2fa" in step.url
    assert not logins(user)  # the password alone signs nobody in
    code = f"{hotp_value(secret, next(yield_hotp_counters_from_time())):06d}"
    done = client.post(step.url, {"code": code})
    assert done.status_code == 302, done.content[:400]
    [event] = logins(user)
    assert event.data == {"user_agent": FIREFOX, "method": "password", "mfa": "totp"}


def test_single_sign_on_is_named_by_its_provider():
    records = [{"method": "socialaccount", "provider": "github", "uid": "42", "at": 1.0}]
    request = SimpleNamespace(session={"account_authentication_methods": records})
    assert sign_in_method(request) == ("sso:github", None)
    records.append({"method": "mfa", "type": "totp", "at": 2.0})
    assert sign_in_method(request) == ("sso:github", "totp")
    assert sign_in_method(SimpleNamespace(session={})) == ("session", None)


def test_the_sign_in_history_api_lists_only_the_callers_own_attempts():
    user = UserFactory(username="vera")
    Client(REMOTE_ADDR="203.0.113.1").post("/login/", {"login": "vera", "password": "wrong"})
    firefox = browser(user)
    browser(UserFactory())  # someone else's sign-in
    page = firefox.get("/api/v1/auth/sign-ins/", {"page_size": 1}).json()
    assert set(page) == {"results", "next", "previous"} and page["next"]
    [newest] = page["results"]
    assert (
        newest["succeeded"] is True and newest["method"] == "password" and newest["browser"] == "Firefox 128 on Linux"
    )
    [older] = firefox.get(page["next"]).json()["results"]
    assert older["succeeded"] is False and older["reason"] == "invalid_credentials" and older["ip"] == "203.0.113.1"


# --- Idle timeout -------------------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """The idle timeout's clock, moved by hand: clock.now += seconds."""
    state = SimpleNamespace(now=time.time())
    monkeypatch.setattr(middleware.time, "time", lambda: state.now)
    return state


def test_an_idle_session_is_signed_out_on_its_next_request(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 3600
    user = UserFactory()
    client = browser(user)
    assert client.get("/").status_code == 200
    clock.now += 3601
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    assert not session_exists(client)
    assert client.get("/login/").status_code == 200
    event = ActivityEvent.objects.get(verb="user.logout")
    assert event.user == user and event.data["reason"] == "idle"


def test_activity_within_the_timeout_keeps_the_session(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 3600
    client = browser(UserFactory())
    for _ in range(4):  # 4 × 50 minutes: longer than the timeout in all, never idle that long
        clock.now += 3000
        assert client.get("/").status_code == 200
    assert is_signed_in(client)


def test_the_idle_clock_starts_at_sign_in(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 3600
    client = browser(UserFactory())
    clock.now += 3601
    assert client.get("/").status_code == 302  # no request after the login at all


def test_the_idle_timeout_leaves_api_tokens_alone(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 3600
    client = client_for(UserFactory())
    assert client.get("/api/v1/auth/me/").status_code == 200
    clock.now += 10 * 3600
    assert client.get("/api/v1/auth/me/").status_code == 200
    assert not ActivityEvent.objects.filter(verb="user.logout").exists()


def test_an_idle_session_cookie_beside_a_token_does_not_stop_the_token(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 3600
    user = UserFactory()
    client = browser(user)
    clock.now += 3601
    _token, key = token_create(user=user, name="t")
    assert client.get("/api/v1/auth/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert SESSION_KEY not in client.session


def test_zero_turns_the_idle_timeout_off(settings, clock):
    settings.SESSION_IDLE_TIMEOUT = 0
    client = browser(UserFactory())
    clock.now += 30 * 24 * 3600
    assert client.get("/").status_code == 200


# --- User agents in words -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "words"),
    [
        (FIREFOX, "Firefox 128 on Linux"),
        (SAFARI_IOS, "Safari 17 on iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge 126 on Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36",
            "Chrome 126 on macOS",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome 126 on Android",
        ),
        ("curl/8.5.0", "curl 8"),
        ("", "Unknown browser"),
        ("SomeBot/1.0 (+https://example.com)", "SomeBot"),
    ],
)
def test_user_agents_in_words(agent, words):
    assert useragent.describe(agent) == words
