"""Two-factor authentication over the API and in the portal, and teams that require it."""

from __future__ import annotations

import re
import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ActivityEvent, ApiToken, Role
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

LOGIN = "/api/v1/auth/login/"


def totp(secret: str, step: int = 0) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30 + step))


def turn_on(client) -> tuple[str, list[str]]:
    """Sets up TOTP through the API; returns the secret and the recovery codes."""
    started = client.post("/api/v1/auth/mfa/totp/")
    assert started.status_code == 201, started.content
    secret = started.json()["secret"]
    confirmed = client.post("/api/v1/auth/mfa/totp/confirm/", {"code": totp(secret)}, format="json")
    assert confirmed.status_code == 200, confirmed.content
    return secret, confirmed.json()["recovery_codes"]


def login(**body):
    return APIClient().post(LOGIN, {"password": PASSWORD, **body}, format="json")


def test_totp_set_up_then_required_at_login_with_codes_used_once():
    user = UserFactory(username="mara")
    client = client_for(user)
    assert client.get("/api/v1/auth/me/").json()["mfa_enabled"] is False
    started = client.post("/api/v1/auth/mfa/totp/").json()
    assert re.fullmatch(r"[A-Z2-7]{32}", started["secret"])
    assert started["otpauth_url"].startswith("otpauth://totp/") and "issuer=MediaPortal" in started["otpauth_url"]
    assert "mara" in started["otpauth_url"] and started["secret"] in started["otpauth_url"]
    # Not on until a code proves the app has the secret.
    assert login(username="mara").status_code == 200
    wrong = client.post("/api/v1/auth/mfa/totp/confirm/", {"code": "000000"}, format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "invalid_otp"
    assert not Authenticator.objects.filter(user=user).exists()
    secret = started["secret"]
    confirmed = client.post("/api/v1/auth/mfa/totp/confirm/", {"code": totp(secret)}, format="json")
    assert confirmed.status_code == 200
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert client.get("/api/v1/auth/me/").json()["mfa_enabled"] is True
    assert client.get("/api/v1/auth/mfa/").json() == {"enabled": True, "recovery_codes_left": 10}
    # The secret is stored encrypted.
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP).data["secret"]
    assert secret not in stored and stored != secret
    tokens_before = ApiToken.objects.filter(user=user).count()

    missing = login(username="mara")
    assert missing.status_code == 401 and missing.json()["code"] == "mfa_required"
    bad = login(username="mara", otp="123456" if totp(secret) != "123456" else "654321")
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_otp"
    assert ApiToken.objects.filter(user=user).count() == tokens_before
    code = totp(secret)
    good = login(username="mara", otp=code)
    assert good.status_code == 200 and good.json()["token"].startswith("mp_")
    # A code works once: a replay within its 30 seconds is refused.
    assert login(username="mara", otp=code).json()["code"] == "invalid_otp"
    # A recovery code works in place of a code, once.
    assert login(username="mara", otp=codes[0]).status_code == 200
    assert login(username="mara", otp=codes[0]).status_code == 401
    assert client.get("/api/v1/auth/mfa/").json()["recovery_codes_left"] == 9
    again = client.post("/api/v1/auth/mfa/totp/")
    assert again.status_code == 409 and again.json()["code"] == "mfa_already_enabled"
    assert ActivityEvent.objects.filter(user=user, verb="mfa.enabled").count() == 1


def test_wrong_codes_count_as_failed_logins():
    user = UserFactory(username="nils")
    secret, _codes = turn_on(client_for(user))
    for _ in range(5):
        assert login(username="nils", otp="999999" if totp(secret) != "999999" else "111111").status_code == 401
    throttled = login(username="nils", otp=totp(secret))
    assert throttled.status_code == 429


def test_recovery_codes_regenerate_and_turning_off_need_a_code():
    user = UserFactory(username="olga")
    client = client_for(user)
    secret, codes = turn_on(client)
    refused = client.post("/api/v1/auth/mfa/recovery-codes/", {"code": "nope"}, format="json")
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_otp"
    fresh = client.post("/api/v1/auth/mfa/recovery-codes/", {"code": totp(secret)}, format="json")
    assert fresh.status_code == 200 and set(fresh.json()["recovery_codes"]).isdisjoint(codes)
    assert login(username="olga", otp=codes[1]).status_code == 401  # the old set is dead
    assert client.post("/api/v1/auth/mfa/disable/", {"code": "000000"}, format="json").status_code == 401
    off = client.post("/api/v1/auth/mfa/disable/", {"code": fresh.json()["recovery_codes"][0]}, format="json")
    assert off.status_code == 204
    assert not Authenticator.objects.filter(user=user).exists()
    assert login(username="olga").status_code == 200
    assert (
        client.post("/api/v1/auth/mfa/disable/", {"code": "123456"}, format="json").json()["code"] == "mfa_not_enabled"
    )


def test_a_team_requiring_two_factor_refuses_members_without_it(tenant):
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER).user
    member = MembershipFactory(tenant=tenant, role=Role.EDITOR).user
    owner_api, member_api = client_for(owner), client_for(member)
    url = f"/api/v1/tenants/{tenant.slug}/"
    # Whoever turns it on has it on first.
    first = owner_api.patch(url, {"require_mfa": True}, format="json")
    assert first.status_code == 409 and first.json()["code"] == "mfa_not_enabled"
    turn_on(owner_api)
    on = owner_api.patch(url, {"require_mfa": True}, format="json")
    assert on.status_code == 200 and on.json()["require_mfa"] is True

    refused = member_api.get(f"/api/v1/tenants/{tenant.slug}/files/")
    assert refused.status_code == 403 and refused.json()["code"] == "mfa_required"
    assert member_api.get(url).json()["code"] == "mfa_required"
    # Other tenants and the account itself still work, so the member can set it up.
    assert member_api.get("/api/v1/auth/me/").status_code == 200
    browser = Client()
    browser.force_login(member)
    page = browser.get(f"/t/{tenant.slug}/")
    assert page.status_code == 403 and "requires two-factor authentication" in page.content.decode()
    assert "/accounts/2fa/totp/activate/" in page.content.decode()
    # A stranger still cannot tell the team exists.
    stranger = client_for(UserFactory())
    assert stranger.get(f"/api/v1/tenants/{tenant.slug}/files/").status_code == 404

    turn_on(member_api)
    assert member_api.get(f"/api/v1/tenants/{tenant.slug}/files/").status_code == 200
    assert browser.get(f"/t/{tenant.slug}/").status_code == 200


def test_portal_login_asks_for_the_code_after_the_password():
    user = UserFactory(username="pia")
    secret, codes = turn_on(client_for(user))
    browser = Client()
    step = browser.post("/login/", {"login": "pia", "password": PASSWORD})
    assert step.status_code == 302 and step["Location"] == "/accounts/2fa/authenticate/"
    assert "_auth_user_id" not in browser.session
    page = browser.get("/accounts/2fa/authenticate/")
    assert page.status_code == 200 and 'name="code"' in page.content.decode()
    wrong = browser.post("/accounts/2fa/authenticate/", {"code": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and "_auth_user_id" not in browser.session
    done = browser.post("/accounts/2fa/authenticate/", {"code": totp(secret)})
    assert done.status_code == 302 and browser.session["_auth_user_id"] == str(user.pk)
    assert browser.get("/").status_code == 200


def test_portal_sets_up_two_factor_with_a_qr_code():
    user = UserFactory(username="quin")
    browser = Client()
    assert browser.post("/login/", {"login": "quin", "password": PASSWORD}).status_code == 302
    # allauth asks for the password again before a security change.
    asked = browser.get("/accounts/2fa/totp/activate/")
    assert asked.status_code == 302 and asked["Location"].startswith("/accounts/reauthenticate/")
    confirmed = browser.post(asked["Location"], {"password": PASSWORD})
    assert confirmed.status_code == 302 and confirmed["Location"] == "/accounts/2fa/totp/activate/"
    page = browser.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "data:image/svg+xml;base64," in html
    secret = re.search(r"[A-Z2-7]{32}", html).group(0)
    done = browser.post("/accounts/2fa/totp/activate/", {"code": totp(secret)})
    assert done.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    # The API sees the same set-up.
    assert client_for(user).get("/api/v1/auth/me/").json()["mfa_enabled"] is True
