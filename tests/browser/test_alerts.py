"""Quota alerts in a browser: an owner over 80 % of the quota sees the banner on the team's
pages, follows it to the settings and sets a monthly budget there."""

from __future__ import annotations

import re
from decimal import Decimal

from playwright.sync_api import expect

from accounts.models import Role, Tenant, TenantUsage
from analytics.services.alerts import alerts_check
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory


def test_an_owner_over_80_percent_sees_the_banner_and_sets_a_budget(page, shot):
    membership = MembershipFactory(user=UserFactory(username="olive"), role=Role.OWNER)
    tenant = membership.tenant
    TenantUsage.objects.create(tenant=tenant, bytes=870)
    Tenant.objects.filter(pk=tenant.pk).update(quota_bytes=1000)
    [alert] = alerts_check(tenant=tenant)
    assert alert.threshold == 0.8

    log_in(page, "olive")
    page.goto(f"/t/{tenant.slug}/")
    banner = page.get_by_role("region", name="Storage alert")
    expect(banner).to_contain_text("Storage is over 80 % full (87 %: 870")
    expect(banner).to_contain_text("Uploads are refused once the quota is full")
    shot(page, "banner")

    banner.get_by_role("link", name="Storage settings").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Team settings")
    expect(page.get_by_role("region", name="Storage alert")).to_be_visible()  # on every team page
    page.get_by_label(re.compile(r"^Monthly budget")).fill("25.50")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Monthly budget"))).to_have_value("25.50")
    shot(page, "budget set")
    assert Tenant.objects.get(pk=tenant.pk).monthly_budget == Decimal("25.50")
