"""Two-factor authentication in a real browser: set up from the account menu, asked for at
the next sign-in, and a team that requires it turning a member without it away."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from accounts.models import Role, Tenant
from tests.accounts.test_mfa import totp
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory


def test_set_up_two_factor_then_sign_in_with_a_code(page, shot):
    membership = MembershipFactory(role=Role.OWNER, user__username="tomas")
    log_in(page, "tomas")
    page.get_by_text("tomas", exact=True).click()
    page.get_by_role("link", name="Two-factor authentication").click()
    page.get_by_role("link", name=re.compile("Activate")).click()
    # allauth confirms the password before a security change.
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    secret = page.get_by_label("Authenticator secret").input_value()
    expect(page.get_by_role("img", name=secret)).to_be_visible()
    shot(page, "totp-activate")
    page.get_by_label("Authenticator code").fill(totp(secret))
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_text(re.compile("Recovery codes", re.I)).first).to_be_visible()
    shot(page, "mfa-on")

    page.get_by_text("tomas", exact=True).click()
    page.get_by_role("button", name="Log out").click()
    page.goto("/login/")
    page.get_by_label("Username or e-mail").fill("tomas")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/accounts/2fa/authenticate/$"))
    shot(page, "code-asked")
    page.get_by_label("Code").fill(totp(secret, step=1))
    page.get_by_role("button", name=re.compile("Sign In|Log in|Verify", re.I)).click()
    page.wait_for_url(re.compile(r"/(t/[^/]+/)?$"))
    expect(page.get_by_role("link", name=membership.tenant.name).first).to_be_visible()


def test_a_team_requiring_two_factor_sends_a_member_to_set_it_up(page, shot):
    tenant = TenantFactory(name="Vault Team", require_mfa=True)
    MembershipFactory(tenant=tenant, role=Role.EDITOR, user__username="ursula")
    log_in(page, "ursula")
    page.goto(f"/t/{tenant.slug}/")
    expect(page.get_by_role("heading", name="Two-factor authentication required")).to_be_visible()
    shot(page, "mfa-required")
    page.get_by_role("link", name="Set up two-factor authentication").click()
    expect(page.get_by_label("Password", exact=True)).to_be_visible()
    assert Tenant.objects.get(pk=tenant.pk).require_mfa
