"""E-mail: verification at registration and on change, and password reset by mail."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services.email import mail_throttle_key
from tests.factories import PASSWORD, UserFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://\S+")


def link_in(message) -> str:
    links = LINK.findall(message.body)
    assert links, message.body
    return links[0]


def path_of(url: str, settings) -> str:
    assert url.startswith(settings.SITE_URL + "/"), url
    return url[len(settings.SITE_URL) :]


def register(**overrides):
    body = {"username": "rosa", "email": "Rosa@Example.com", "password": "a long enough secret 1", **overrides}
    return APIClient().post("/api/v1/auth/register/", body, format="json")


def test_registration_mails_a_link_that_verifies_the_address(settings):
    settings.SITE_URL = "https://media.example.org"
    registered = register()
    assert registered.status_code == 201
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {registered.json()['token']}")
    assert api.get("/api/v1/auth/me/").json()["email_verified"] is False
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["rosa@example.com"] and "[MediaPortal]" in message.subject
    # The link is built from SITE_URL, never from the request's host.
    path = path_of(link_in(message), settings)
    browser = Client()
    page = browser.get(path)
    # Opening the link (a mail scanner might) verifies nothing: the page asks for a click.
    assert page.status_code == 200 and "rosa@example.com" in page.content.decode()
    assert api.get("/api/v1/auth/me/").json()["email_verified"] is False
    assert browser.post(path).status_code == 302
    assert api.get("/api/v1/auth/me/").json()["email_verified"] is True
    assert EmailAddress.objects.get(user__username="rosa").verified


def test_portal_registration_mails_the_link_too():
    browser = Client()
    body = {"username": "sven", "email": "sven@example.com", "password": "a long enough secret 1"}
    assert browser.post("/register/", body).status_code == 302
    assert [m.to for m in mail.outbox] == [["sven@example.com"]]
    assert "/accounts/confirm-email/" in mail.outbox[0].body
    assert "We sent a link to sven@example.com" in browser.get("/").content.decode()


def test_a_forged_host_does_not_reach_the_mailed_link(settings):
    settings.SITE_URL = "https://media.example.org"
    settings.ALLOWED_HOSTS = ["*"]
    register(username="tess", email="tess@example.com")
    APIClient().post(
        "/api/v1/auth/register/",
        {"username": "ulla", "email": "ulla@example.com", "password": "a long enough secret 1"},
        format="json",
        HTTP_HOST="evil.example.net",
    )
    assert all("evil.example.net" not in m.body for m in mail.outbox)


def test_changing_the_address_waits_for_the_new_one_to_be_verified(settings):
    user = User.objects.get(pk=register(username="vera", email="vera@example.com").json()["user"]["id"])
    EmailAddress.objects.filter(user=user).update(verified=True)
    mail.outbox.clear()
    api = client_for(user)
    asked = api.post("/api/v1/auth/email/", {"email": "vera@new.example.com"}, format="json")
    assert asked.status_code == 202 and asked.json() == {
        "email": "vera@new.example.com",
        "verified": False,
        "primary": False,
    }
    assert [m.to for m in mail.outbox] == [["vera@new.example.com"]]
    again = api.post("/api/v1/auth/email/", {"email": "vera@new.example.com"}, format="json")
    assert again.status_code == 429 and again.json()["code"] == "verification_throttled"
    assert len(mail.outbox) == 1  # no flood of someone else's inbox
    # Until verified, the old address stays the account's.
    me = api.get("/api/v1/auth/me/").json()
    assert me["user"]["email"] == "vera@example.com" and me["email_verified"] is True
    path = path_of(link_in(mail.outbox[0]), settings)
    browser = Client()
    browser.force_login(user)
    assert browser.post(path).status_code == 302
    me = api.get("/api/v1/auth/me/").json()
    assert me["user"]["email"] == "vera@new.example.com" and me["email_verified"] is True
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == ["vera@new.example.com"]


def test_an_address_of_another_account_cannot_be_claimed():
    UserFactory(username="wim", email="wim@example.com")
    api = client_for(UserFactory(username="xena"))
    taken = api.post("/api/v1/auth/email/", {"email": "WIM@example.com"}, format="json")
    assert taken.status_code == 400 and taken.json()["code"] == "email_taken"
    assert not mail.outbox


def test_verification_can_be_sent_again_until_verified_but_not_as_a_flood():
    user = User.objects.get(pk=register(username="yuri", email="yuri@example.com").json()["user"]["id"])
    api = client_for(user)
    assert len(mail.outbox) == 1
    # The registration's mail was a moment ago: asking again at once mails nothing.
    flood = api.post("/api/v1/auth/email/verification/")
    assert flood.status_code == 429 and flood.json()["code"] == "verification_throttled"
    assert len(mail.outbox) == 1
    cache.delete(mail_throttle_key("yuri@example.com"))  # as if three minutes had passed
    assert api.post("/api/v1/auth/email/verification/").status_code == 202
    assert len(mail.outbox) == 2
    EmailAddress.objects.filter(user=user).update(verified=True)
    again = api.post("/api/v1/auth/email/verification/")
    assert again.status_code == 409 and again.json()["code"] == "email_already_verified"


def test_password_reset_by_mail_then_login_with_the_new_password(settings):
    settings.SITE_URL = "https://media.example.org"
    user = UserFactory(username="zora", email="zora@example.com")
    EmailAddress.objects.create(user=user, email="zora@example.com", primary=True, verified=True)
    browser = Client()
    page = browser.get("/login/")
    assert "/accounts/password/reset/" in page.content.decode()
    assert browser.post("/accounts/password/reset/", {"email": "zora@example.com"}).status_code == 302
    assert [m.to for m in mail.outbox] == [["zora@example.com"]]
    path = path_of(link_in(mail.outbox[0]), settings)
    form = browser.get(path, follow=True)
    assert form.status_code == 200 and 'name="password1"' in form.content.decode()
    new = "another long secret 2"
    done = browser.post(
        form.redirect_chain[-1][0] if form.redirect_chain else path, {"password1": new, "password2": new}
    )
    assert done.status_code == 302
    login = APIClient().post("/api/v1/auth/login/", {"username": "zora", "password": new}, format="json")
    assert login.status_code == 200
    old = APIClient().post("/api/v1/auth/login/", {"username": "zora", "password": PASSWORD}, format="json")
    assert old.status_code == 401
    # The link works once.
    assert "password1" not in browser.get(path, follow=True).content.decode()


def test_a_reset_for_an_unknown_address_reveals_nothing():
    browser = Client()
    answer = browser.post("/accounts/password/reset/", {"email": "nobody@example.com"})
    assert answer.status_code == 302
    assert len(mail.outbox) <= 1 and all("/accounts/password/reset/key/" not in m.body for m in mail.outbox)
