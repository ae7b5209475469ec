"""Single sign-on in a real browser: the portal (gunicorn, configured by the environment an
operator sets) and the test identity provider (tests/oidc_provider) as processes of their own,
so the browser follows every redirect and the portal's CSP (form-action) applies."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.models import Membership, User
from tests.e2e.web import database_url, web_server
from tests.factories import TenantFactory
from tests.oidc_provider.process import oidc_provider

PROVIDER_PASSWORD = "provider password 1"


@pytest.fixture(scope="module")
def sso_stack(django_db_setup, django_db_blocker, tmp_path_factory):
    """A provider, and a portal whose environment points at it."""
    tmp = tmp_path_factory.mktemp("browser-sso")
    with oidc_provider(tmp, redirect_uris=[]) as provider:
        env = {
            "DATABASE_URL": database_url(settings.DATABASES["default"]),
            "OIDC_SERVER_URL": provider.url,
            "OIDC_CLIENT_ID": provider.client_id,
            "OIDC_CLIENT_SECRET": provider.client_secret,
            "OIDC_NAME": "Company SSO",
            "OIDC_SCOPES": "openid profile email groups",
            "OIDC_GROUP_ROLES": "media-editors=newsroom:editor",
        }
        with django_db_blocker.unblock(), web_server(tmp, env=env) as server:
            provider.redirect_uri_add(f"{server.url}/accounts/oidc/oidc/login/callback/")
            yield server, provider


def test_sign_in_with_the_company_provider(browser, sso_stack, shot):
    server, provider = sso_stack
    newsroom = TenantFactory(slug="newsroom", name="Newsroom")
    provider.user_set("lena", password=PROVIDER_PASSWORD, email="lena@example.org", groups=["media-editors"])
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(15_000)
    csp_blocked = []
    page = context.new_page()
    page.on("console", lambda message: csp_blocked.append(message.text) if "Content Security" in message.text else None)
    try:
        page.goto("/login/")
        shot(page, "login-page")
        page.get_by_role("button", name="Company SSO").click()
        page.get_by_label("Provider username").fill("lena")
        page.get_by_label("Provider password").fill(PROVIDER_PASSWORD)
        shot(page, "provider-login")
        page.get_by_role("button", name="Sign in to the provider").click()
        page.wait_for_url(re.compile(rf"^{re.escape(server.url)}/(t/[^/]+/)?$"))
        expect(page.get_by_text("Newsroom").first).to_be_visible()
        shot(page, "signed-in")
    finally:
        context.close()
    assert not csp_blocked
    user = User.objects.get(username="lena")
    assert Membership.objects.get(user=user).tenant == newsroom
