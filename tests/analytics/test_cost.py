"""The cost estimate: exact amounts for known snapshot rows and prices, who may read it, CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Role, Tenant
from analytics.models import StorageSnapshot
from analytics.services.cost import tenant_cost

pytestmark = pytest.mark.django_db

GIB = 2**30


@pytest.fixture
def prices(settings):
    settings.STORAGE_CURRENCY = "EUR"
    settings.STORAGE_PRICE_HOT_GB_MONTH = Decimal("0.10")
    settings.STORAGE_PRICE_ARCHIVE_GB_MONTH = Decimal("0.01")
    settings.STORAGE_PRICE_REPLICA_GB_MONTH = Decimal("0.05")


def snapshot(tenant, *, hours_ago=0, **sizes) -> StorageSnapshot:
    hour = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    return StorageSnapshot.objects.create(tenant=tenant, hour=hour, **sizes)


def test_amounts_are_exact_per_tier_from_the_latest_snapshot(owner, tenant, prices):
    snapshot(tenant, hours_ago=2, hot_bytes=100 * GIB)  # history: not the present
    latest = snapshot(
        tenant, hot_bytes=3 * GIB, rendition_bytes=1 * GIB, archive_bytes=10 * GIB, replicated_bytes=5 * GIB // 2
    )
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("1.00"))

    response = owner.get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/")

    assert response.status_code == 200
    assert response.json() == {
        "currency": "EUR",
        # 4 GiB × 0.10 = 0.40; 10 GiB × 0.01 = 0.10; 2.5 GiB × 0.05 = 0.125, half up to 0.13
        "by_tier": {
            "hot": {"bytes": 4 * GIB, "cost": 0.40},
            "archive": {"bytes": 10 * GIB, "cost": 0.10},
            "replica": {"bytes": 5 * GIB // 2, "cost": 0.13},
        },
        "estimated_monthly_cost": 0.63,
        "monthly_budget": 1.0,
        "budget_used_ratio": 0.63,
        "as_of": latest.taken_at.isoformat().replace("+00:00", "Z"),
    }


def test_default_prices_resemble_s3_list_prices(tenant, settings):
    snapshot(tenant, hot_bytes=100 * GIB, archive_bytes=1000 * GIB, replicated_bytes=100 * GIB)
    cost = tenant_cost(tenant=tenant)
    assert settings.STORAGE_CURRENCY == "USD"
    assert {tier: v["cost"] for tier, v in cost.by_tier.items()} == {
        "hot": Decimal("2.30"),
        "archive": Decimal("3.60"),
        "replica": Decimal("1.25"),
    }
    assert cost.estimated_monthly_cost == Decimal("7.15") and cost.budget_used_ratio is None


def test_no_snapshot_yet_is_all_zero_and_a_zero_budget_has_no_ratio(owner, tenant, prices):
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("0"))
    body = owner.get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/").json()
    assert body["estimated_monthly_cost"] == 0 and body["as_of"] is None
    assert all(tier == {"bytes": 0, "cost": 0} for tier in body["by_tier"].values())
    assert body["monthly_budget"] == 0 and body["budget_used_ratio"] is None


def test_the_ratio_is_cost_over_budget_to_four_decimals(tenant, prices):
    snapshot(tenant, hot_bytes=9 * GIB)  # 0.90
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("0.70"))
    tenant.refresh_from_db()
    assert tenant_cost(tenant=tenant).budget_used_ratio == Decimal("1.2857")


def test_csv_export_has_the_same_figures(owner, tenant, prices):
    snapshot(tenant, hot_bytes=2 * GIB, archive_bytes=GIB)
    Tenant.objects.filter(pk=tenant.pk).update(monthly_budget=Decimal("5.00"))
    response = owner.get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/", {"export": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["item", "bytes", "amount", "currency"],
        ["hot", str(2 * GIB), "0.20", "EUR"],
        ["archive", str(GIB), "0.01", "EUR"],
        ["replica", "0", "0.00", "EUR"],
        ["estimated_monthly_cost", str(3 * GIB), "0.21", "EUR"],
        ["monthly_budget", "", "5.00", "EUR"],
    ]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OWNER])
def test_owners_and_admins_read_the_cost(member, tenant, role):
    assert member(role).get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/").status_code == 200


@pytest.mark.parametrize("role", [Role.EDITOR, Role.VIEWER])
def test_members_are_refused_and_outsiders_see_nothing(member, outsider, tenant, role):
    for params in ({}, {"export": "csv"}):
        refused = member(role).get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/", params)
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert outsider.get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/").status_code == 404


def test_an_unknown_export_format_is_400(owner, tenant):
    response = owner.get(f"/api/v1/tenants/{tenant.slug}/analytics/cost/", {"export": "xlsx"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_export"
