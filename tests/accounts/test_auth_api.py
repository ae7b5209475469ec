from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

import mediaportal.settings as production_settings
from accounts.models import ActivityEvent, ApiToken, Membership, Role, Tenant, User
from accounts.services.users import token_create
from mediaportal import ratelimit
from tests.factories import PASSWORD, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db


def register(api, **overrides):
    body = {"username": "alice", "email": "alice@example.com", "password": "a long enough secret 1"}
    body.update(overrides)
    return api.post("/api/v1/auth/register/", body, format="json")


def test_register_login_me_logout_flow(api):
    response = register(api)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["user"]["username"] == "alice"
    assert body["user"]["email"] == "alice@example.com"
    assert body["tenant"]["slug"] and body["tenant"]["name"] == "alice's team"
    assert body["token"].startswith("mp_")
    user = User.objects.get(username="alice")
    assert Membership.objects.get(user=user).role == Role.OWNER

    response = api.post(
        "/api/v1/auth/login/", {"username": "alice", "password": "a long enough secret 1"}, format="json"
    )
    assert response.status_code == 200
    login = response.json()
    assert set(login) >= {"token", "expires_at", "user"}
    assert login["user"]["id"] == str(user.id)

    api.credentials(HTTP_AUTHORIZATION=f"Token {login['token']}")
    me = api.get("/api/v1/auth/me/")
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "alice"
    assert me.json()["memberships"] == [{"tenant": body["tenant"], "role": "owner"}]

    assert api.post("/api/v1/auth/logout/").status_code == 204
    refused = api.get("/api/v1/auth/me/")
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    # The registration token is a different token and still works.
    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api.get("/api/v1/auth/me/").status_code == 200


def test_token_is_stored_only_as_hash(api):
    key = register(api).json()["token"]
    token = ApiToken.objects.get(user__username="alice")
    assert key not in (token.key_hash, token.prefix)
    assert token.prefix == key[:10]
    assert not ApiToken.objects.filter(key_hash=key).exists()


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"username": "Alice"}, "username_taken"),
        ({"username": "bob", "email": "ALICE@example.com"}, "email_taken"),
    ],
)
def test_duplicate_username_or_email_is_400_with_code(api, overrides, code):
    assert register(api).status_code == 201
    response = register(api, **overrides)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert User.objects.count() == 1
    assert Tenant.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"password": "short"}, "weak_password"),
        ({"email": "not-an-email"}, "invalid"),
        ({"username": "a b"}, "invalid_username"),
        ({"username": " alice"}, "invalid_username"),  # taken as "alice" before; the schema's pattern says no
    ],
)
def test_invalid_registration_changes_nothing(api, overrides, code):
    response = register(api, **overrides)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not User.objects.exists() and not Tenant.objects.exists()


def test_wrong_password_is_401(api):
    UserFactory(username="carol")
    response = api.post("/api/v1/auth/login/", {"username": "carol", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"detail": "Wrong username or password.", "code": "invalid_credentials"}


def test_login_is_case_insensitive_on_username(api):
    UserFactory(username="dave")
    response = api.post("/api/v1/auth/login/", {"username": "DAVE", "password": PASSWORD}, format="json")
    assert response.status_code == 200


LOGIN = "/api/v1/auth/login/"


def bad_login(api, username: str, **extra):
    return api.post(LOGIN, {"username": username, "password": "bad"}, format="json", **extra)


@pytest.fixture
def frozen_clock(monkeypatch):
    """The throttle's clock, moved by the test instead of by sleeping."""

    class Clock:
        now = 1_000_000.0

        def advance(self, seconds: float) -> None:
            self.now += seconds

    clock = Clock()
    monkeypatch.setattr(ratelimit, "clock", lambda: clock.now)
    return clock


def test_login_throttled_after_five_failures_then_works_after_retry_after(api, frozen_clock):
    UserFactory(username="erin")
    for _ in range(5):
        assert bad_login(api, "erin").status_code == 401
        frozen_clock.advance(20)
    blocked = api.post(LOGIN, {"username": "erin", "password": PASSWORD}, format="json")
    assert blocked.status_code == 429
    assert blocked.json()["code"] == "throttled"
    wait = int(blocked["Retry-After"])
    assert 0 < wait <= 330 and blocked.json()["retry_after"] == wait
    # Another username from the same address is not locked out by erin's failures.
    UserFactory(username="frank")
    assert api.post(LOGIN, {"username": "frank", "password": PASSWORD}, format="json").status_code == 200

    frozen_clock.advance(wait - 1)
    assert api.post(LOGIN, {"username": "erin", "password": PASSWORD}, format="json").status_code == 429
    frozen_clock.advance(1)
    assert api.post(LOGIN, {"username": "erin", "password": PASSWORD}, format="json").status_code == 200


def test_five_failures_spread_over_the_window_throttle_wherever_it_falls(api, frozen_clock):
    # Failures a minute apart across what would be the edge of an aligned five-minute window.
    UserFactory(username="gail")
    frozen_clock.now = 1_000_050.0
    for _ in range(5):
        assert bad_login(api, "gail").status_code == 401
        frozen_clock.advance(60)
    frozen_clock.advance(-10)  # 290 s after the first failure
    assert bad_login(api, "gail").status_code == 429


def test_a_success_clears_the_failures_of_that_username_and_address(api, frozen_clock):
    UserFactory(username="hank")
    for _ in range(4):
        assert bad_login(api, "hank").status_code == 401
    assert api.post(LOGIN, {"username": "hank", "password": PASSWORD}, format="json").status_code == 200
    for _ in range(5):
        assert bad_login(api, "hank").status_code == 401
    assert bad_login(api, "hank").status_code == 429


def test_concurrent_bad_logins_check_no_more_passwords_than_the_limit(settings, transactional_db, frozen_clock):
    """A burst must not slip past the limit while the first password checks are running.

    On a held clock: the burst stays in one slot of the window whenever the test runs.
    """
    from django.db import connection

    settings.LOGIN_THROTTLE_PER_USER = 3
    UserFactory(username="victim")
    threads = 12
    barrier = threading.Barrier(threads)
    responses = []

    def attempt() -> None:
        try:
            barrier.wait()
            responses.append(bad_login(APIClient(), "victim"))
        finally:
            connection.close()

    workers = [threading.Thread(target=attempt) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    codes = sorted(r.status_code for r in responses)
    assert codes == [401] * 3 + [429] * 9
    assert all(int(r["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    # The three failures are on record: the right password is refused too, until the window passes.
    right = APIClient().post(LOGIN, {"username": "victim", "password": PASSWORD}, format="json")
    assert right.status_code == 429


def test_login_throttled_per_username_across_addresses(api, settings, frozen_clock):
    settings.LOGIN_THROTTLE_PER_USERNAME = 3
    UserFactory(username="ivy")
    for n in range(3):
        assert bad_login(api, "ivy", REMOTE_ADDR=f"10.0.0.{n}").status_code == 401
    response = bad_login(api, "ivy", REMOTE_ADDR="10.0.0.99")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    # That address may still log in as someone else.
    UserFactory(username="jack")
    ok = api.post(LOGIN, {"username": "jack", "password": PASSWORD}, format="json", REMOTE_ADDR="10.0.0.99")
    assert ok.status_code == 200


def test_login_throttled_per_address_across_usernames(api, settings, frozen_clock):
    settings.LOGIN_THROTTLE_PER_IP = 3
    for name in ("u1", "u2", "u3"):
        assert bad_login(api, name).status_code == 401
    response = bad_login(api, "u4")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_passwords_are_hashed_with_argon2_in_production(api, settings):
    # The suite swaps in a fast hasher (tests/conftest.py); production's list starts with Argon2.
    settings.PASSWORD_HASHERS = production_settings.PASSWORD_HASHERS
    assert register(api).status_code == 201
    assert User.objects.get(username="alice").password.startswith("argon2$")
    response = api.post(LOGIN, {"username": "alice", "password": "a long enough secret 1"}, format="json")
    assert response.status_code == 200


def test_tokens_list_create_revoke(api):
    user = UserFactory()
    client = client_for(user)
    created = client.post("/api/v1/auth/tokens/", {"name": "ci"}, format="json")
    assert created.status_code == 201
    key = created.json()["token"]
    listing = client.get("/api/v1/auth/tokens/").json()
    assert set(listing) == {"results", "next", "previous"}
    names = {t["name"] for t in listing["results"]}
    assert names == {"test", "ci"}
    assert all("token" not in t for t in listing["results"])

    other = api.__class__()
    other.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert other.get("/api/v1/auth/me/").status_code == 200
    assert client.delete(f"/api/v1/auth/tokens/{created.json()['id']}/").status_code == 204
    assert other.get("/api/v1/auth/me/").status_code == 401
    state = client.get(f"/api/v1/auth/tokens/{created.json()['id']}/").json()["state"]
    assert state == "revoked"


def test_expired_token_is_refused(api):
    user = UserFactory()
    token, key = token_create(user=user, name="short", expires_at=timezone.now() + timedelta(minutes=1))
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/v1/auth/me/").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = api.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_token_with_past_expiry_cannot_be_created(api):
    client = client_for(UserFactory())
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = client.post("/api/v1/auth/tokens/", {"name": "x", "expires_at": past}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_expiry"


def test_another_users_token_is_404(api):
    alice, bob = client_for(UserFactory()), client_for(UserFactory())
    token_id = alice.post("/api/v1/auth/tokens/", {"name": "mine"}, format="json").json()["id"]
    assert bob.delete(f"/api/v1/auth/tokens/{token_id}/").status_code == 404
    assert bob.get(f"/api/v1/auth/tokens/{token_id}/").status_code == 404


def test_unauthenticated_and_bad_header_are_401_json(api):
    response = api.get("/api/v1/auth/me/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"
    api.credentials(HTTP_AUTHORIZATION="Token mp_doesnotexist")
    assert api.get("/api/v1/auth/me/").json()["code"] == "invalid_token"


def test_login_records_event_with_address(api):
    UserFactory(username="gina")
    api.post("/api/v1/auth/login/", {"username": "gina", "password": PASSWORD}, format="json", REMOTE_ADDR="10.1.2.3")
    event = ActivityEvent.objects.get(verb="user.login")
    assert event.user.username == "gina" and event.ip == "10.1.2.3"


def test_unknown_api_path_and_wrong_method_are_json(api):
    client = client_for(UserFactory())
    missing = client.get("/api/v1/nothing-here/")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not found.", "code": "not_found"}
    wrong = client.put("/api/v1/auth/me/", {}, format="json")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "method_not_allowed"


@pytest.mark.parametrize("staff", [False, True])
def test_the_portal_login_shares_the_login_throttle_and_the_admin_signs_in_through_it(staff, frozen_clock):
    from django.test import Client

    user = UserFactory(username=f"kim{int(staff)}", is_staff=staff)
    browser = Client()
    if staff:
        # The admin has no login form of its own: it sends people to the portal's.
        assert browser.get("/admin/login/?next=/admin/")["Location"] == "/login/?next=%2Fadmin%2F"
    for _ in range(5):
        page = browser.post("/login/", {"login": user.username, "password": "wrong password"})
        assert page.status_code == 200 and "Wrong username or password." in page.content.decode()
        assert "Too many failed logins" not in page.content.decode()
    page = browser.post("/login/", {"login": user.username, "password": PASSWORD})
    assert page.status_code == 200 and "Too many failed logins" in page.content.decode()
    assert "_auth_user_id" not in browser.session
    # The API counts the same failures.
    assert APIClient().post(LOGIN, {"username": user.username, "password": PASSWORD}, format="json").status_code == 429
    frozen_clock.advance(330)
    answer = browser.post("/login/", {"login": user.username, "password": PASSWORD, "next": "/admin/"})
    assert answer.status_code == 302 and answer["Location"] == "/admin/"
    assert browser.session["_auth_user_id"] == str(user.pk)
    assert browser.get("/admin/").status_code == (200 if staff else 302)
    assert browser.get("/admin/login/").status_code == (302 if staff else 403)


def test_every_token_expires_within_the_ttl_registrations_too(api, settings):
    before = timezone.now()
    registered = register(api).json()
    api.credentials(HTTP_AUTHORIZATION=f"Token {registered['token']}")
    tokens = api.get("/api/v1/auth/tokens/").json()["results"]
    assert len(tokens) == 1 and tokens[0]["expires_at"] is not None
    latest = before + settings.API_TOKEN_TTL + timedelta(seconds=5)
    assert before < datetime.fromisoformat(tokens[0]["expires_at"]) <= latest

    unspecified = api.post("/api/v1/auth/tokens/", {"name": "cli"}, format="json").json()
    assert datetime.fromisoformat(unspecified["expires_at"]) <= latest
    too_far = (timezone.now() + settings.API_TOKEN_TTL + timedelta(days=1)).isoformat()
    refused = api.post("/api/v1/auth/tokens/", {"name": "forever", "expires_at": too_far}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "expiry_too_far"
    assert ApiToken.objects.filter(name="forever").count() == 0
