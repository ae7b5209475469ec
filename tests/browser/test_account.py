"""Account pages in a real browser: register into a new team, a read-only API token used and
revoked, a password change, and an owner managing a member."""

from __future__ import annotations

import re

import requests
from playwright.sync_api import expect

from accounts.models import ApiToken, Membership, Role, Tenant, User
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, TenantFactory, UserFactory

NEW_PASSWORD = "another long secret 42"


def test_register_use_a_read_token_then_revoke_it_and_change_the_password(page, new_page, stack, shot):
    page.goto("/register/")
    page.get_by_label("Username").fill("maren")
    page.get_by_label("Email").fill("maren@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Team name").fill("Maren Photo")
    shot(page, "register")
    page.get_by_role("button", name="Create account").click()
    tenant = Tenant.objects.get(name="Maren Photo")
    page.wait_for_url(re.compile(rf"/t/{tenant.slug}/$"))
    expect(page.get_by_role("navigation", name="Team").get_by_text("Maren Photo")).to_be_visible()
    shot(page, "new-team")

    # A read-only token, read from the page once.
    page.goto("/account/tokens/")
    page.get_by_label("Name").fill("ci reader")
    page.get_by_label("Read only").check()
    page.get_by_label("Expires in (days)").fill("3")
    page.get_by_role("button", name="Create token").click()
    key = page.get_by_label("Token", exact=True).input_value()
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    shot(page, "token-created")
    assert ApiToken.objects.get(user__username="maren", name="ci reader").scope == "read"
    headers = {"Authorization": f"Token {key}"}
    api = f"{stack.url}/api/v1/tenants/{tenant.slug}"
    assert requests.get(f"{api}/files/", headers=headers, timeout=10).status_code == 200
    refused = requests.post(f"{api}/folders/", json={"name": "x"}, headers=headers, timeout=10)
    assert refused.status_code == 403 and refused.json()["code"] == "read_only_token"

    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the table scrolls, the page does not
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.set_viewport_size({"width": 1280, "height": 860})

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke ci reader").click()
    expect(page.get_by_text("revoked").first).to_be_visible()
    assert requests.get(f"{api}/files/", headers=headers, timeout=10).status_code == 401

    # The password changes, this browser stays signed in, the new password logs in elsewhere.
    page.goto("/account/password/")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Password changed")
    shot(page, "password-changed")
    page.goto("/")
    expect(page.get_by_role("heading", name="Your teams")).to_be_visible()
    log_in(new_page(), "maren", NEW_PASSWORD)


def test_an_owner_adds_a_member_and_changes_their_role(page, shot):
    owner = UserFactory(username="olga")
    owner.set_password(PASSWORD)
    owner.save()
    tenant = TenantFactory(name="Olga Films", slug="olga")
    MembershipFactory(user=owner, tenant=tenant, role=Role.OWNER)
    UserFactory(username="pavel")
    log_in(page, "olga")
    page.goto("/t/olga/")
    page.get_by_role("navigation", name="Team").get_by_role("link", name="Members").click()
    page.get_by_label("Username").fill("pavel")
    page.get_by_label("Role", exact=True).select_option(label="Editor")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_role("status")).to_contain_text("pavel joined as editor")
    row = page.get_by_role("row", name=re.compile("pavel"))
    expect(row).to_contain_text("pavel")
    shot(page, "member-added")
    page.get_by_label("Role of pavel", exact=True).select_option(label="Admin")
    page.get_by_role("button", name="Change role of pavel").click()
    expect(page.get_by_role("status")).to_contain_text("pavel is now admin")
    shot(page, "role-changed")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert Membership.objects.get(tenant=tenant, user=User.objects.get(username="pavel")).role == Role.ADMIN
