"""Tenant setting `monthly_budget`: owners and admins set it through the API and the team
settings page; anything but null or an amount ≥ 0 with cents is a 400 and changes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.models import ActivityEvent, Role, Tenant
from tests.accounts.test_portal_account import as_role, settings_body, signed_in

pytestmark = pytest.mark.django_db


def budget_of(tenant) -> Decimal | None:
    return Tenant.objects.get(pk=tenant.pk).monthly_budget


@pytest.mark.parametrize(
    ("sent", "stored", "shown"),
    [(150, "150", 150), (12.5, "12.50", 12.5), (0, "0", 0), (19.999, "20.00", 20), (1.234, "1.23", 1.23)],
)
def test_an_owner_sets_the_budget(owner, tenant, sent, stored, shown):
    response = owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"monthly_budget": sent}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["monthly_budget"] == shown
    assert budget_of(tenant) == Decimal(stored)
    assert ActivityEvent.objects.get(verb="tenant.updated", tenant=tenant).data == {"fields": ["monthly_budget"]}
    cleared = owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"monthly_budget": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["monthly_budget"] is None and budget_of(tenant) is None


def test_the_budget_is_read_by_every_member_and_set_only_by_owners_and_admins(member, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("20.00"))
    viewer = member(Role.VIEWER)
    assert viewer.get(f"/api/v1/tenants/{tenant.slug}/").json()["monthly_budget"] == 20
    refused = viewer.patch(f"/api/v1/tenants/{tenant.slug}/", {"monthly_budget": 1}, format="json")
    assert refused.status_code == 403
    admin = member(Role.ADMIN)
    assert admin.patch(f"/api/v1/tenants/{tenant.slug}/", {"monthly_budget": 30}, format="json").status_code == 200
    assert budget_of(tenant) == Decimal("30")


@pytest.mark.parametrize(
    "bad", [-1, -0.01, "12.50", "lots", "", True, 10**10, 9999999999.996, 1e300, "NaN", "Infinity", [5], {"x": 1}]
)
def test_a_bad_budget_is_400_invalid_budget_and_changes_nothing(owner, tenant, bad):
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("7.00"))
    response = owner.patch(f"/api/v1/tenants/{tenant.slug}/", {"monthly_budget": bad}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_budget", response.json()
    assert budget_of(tenant) == Decimal("7.00")


def test_the_settings_page_sets_and_clears_the_budget(tenant, owner):
    _admin, client = as_role(tenant, Role.ADMIN)
    page = client.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert "Monthly budget (USD)" in page
    assert client.post(f"/t/{tenant.slug}/settings/", settings_body(tenant, monthly_budget="80.5")).status_code == 302
    assert budget_of(tenant) == Decimal("80.50")
    assert 'value="80.50"' in client.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert client.post(f"/t/{tenant.slug}/settings/", settings_body(tenant, monthly_budget="")).status_code == 302
    assert budget_of(tenant) is None


@pytest.mark.parametrize("bad", ["-5", "abc", "1.234"])
def test_a_bad_budget_on_the_settings_page_is_inline_and_changes_nothing(tenant, owner, bad):
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("7.00"))
    response = signed_in(owner.user).post(f"/t/{tenant.slug}/settings/", settings_body(tenant, monthly_budget=bad))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_monthly_budget_error"' in page
    assert budget_of(tenant) == Decimal("7.00")


def test_members_read_the_budget_on_the_settings_page(tenant):
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("42.00"))
    _viewer, client = as_role(tenant, Role.VIEWER)
    page = client.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert "Monthly budget" in page and "USD 42.00" in page and "Save settings" not in page
