"""What a tenant's storage costs a month, from its latest storage snapshot and the prices in
settings, against its monthly budget.

Prices are per GB-month with GB = GiB (2**30 bytes), one currency for the installation
(STORAGE_CURRENCY). Tiers: `hot` is the primary bucket (blobs in the hot tier and every
rendition), `archive` the archive tier, `replica` the verified copies in the replica region.
The estimate is a run-rate (what a month costs at today's size), not spending accumulated
so far: storage is billed by what is held, so the present size is what decides the month.
Amounts are Decimals rounded to cents per tier, and the total is the sum of those rounded
amounts, so the figures a user sees add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from accounts.models import Membership, Tenant
from analytics.models import StorageSnapshot
from files.permissions import can_read_analytics
from mediaportal.exceptions import Forbidden

GIB = 2**30
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")
TIERS = ("hot", "archive", "replica")


@dataclass(frozen=True)
class Cost:
    """One tenant's estimate: bytes and amount per tier, the total, and the budget it meets."""

    currency: str
    by_tier: dict[str, dict]  # tier -> {"bytes": int, "cost": Decimal}
    estimated_monthly_cost: Decimal
    monthly_budget: Decimal | None
    as_of: datetime | None  # when the snapshot was taken; None: nothing measured yet

    @property
    def budget_used_ratio(self) -> Decimal | None:
        """Estimate / budget, to four decimals; None without a budget, or with a budget of 0,
        to which no spending has a ratio."""
        if not self.monthly_budget:
            return None
        return (self.estimated_monthly_cost / self.monthly_budget).quantize(RATIO, ROUND_HALF_UP)

    def as_dict(self) -> dict:
        return {
            "currency": self.currency,
            "estimated_monthly_cost": self.estimated_monthly_cost,
            "by_tier": self.by_tier,
            "monthly_budget": self.monthly_budget,
            "budget_used_ratio": self.budget_used_ratio,
            "as_of": self.as_of,
        }


def prices() -> dict[str, Decimal]:
    """Price per GB-month of each tier, read per call so a changed setting counts at once."""
    return {
        "hot": Decimal(settings.STORAGE_PRICE_HOT_GB_MONTH),
        "archive": Decimal(settings.STORAGE_PRICE_ARCHIVE_GB_MONTH),
        "replica": Decimal(settings.STORAGE_PRICE_REPLICA_GB_MONTH),
    }


def tier_bytes(snapshot: StorageSnapshot | None) -> dict[str, int]:
    if snapshot is None:
        return dict.fromkeys(TIERS, 0)
    return {
        "hot": snapshot.hot_bytes + snapshot.rendition_bytes,
        "archive": snapshot.archive_bytes,
        "replica": snapshot.replicated_bytes,
    }


def cost_of(*, snapshot: StorageSnapshot | None, budget: Decimal | None) -> Cost:
    """The estimate for one snapshot's bytes (none: nothing stored yet, all zero)."""
    price = prices()
    by_tier = {}
    for tier, size in tier_bytes(snapshot).items():
        amount = (Decimal(size) / GIB * price[tier]).quantize(CENT, ROUND_HALF_UP)
        by_tier[tier] = {"bytes": size, "cost": amount}
    return Cost(
        currency=settings.STORAGE_CURRENCY,
        by_tier=by_tier,
        estimated_monthly_cost=sum((tier["cost"] for tier in by_tier.values()), Decimal("0.00")),
        monthly_budget=budget,
        as_of=snapshot.taken_at if snapshot is not None else None,
    )


def tenant_cost(*, tenant: Tenant) -> Cost:
    """The tenant's estimate from its latest snapshot (one indexed query)."""
    snapshot = StorageSnapshot.objects.filter(tenant=tenant).order_by("-hour").first()
    return cost_of(snapshot=snapshot, budget=tenant.monthly_budget)


def cost_summary(*, membership: Membership) -> dict:
    """The cost endpoint's answer (DESIGN 5.1 plus `as_of`); owners and admins only."""
    if not can_read_analytics(membership=membership):
        raise Forbidden("Only owners and admins can read the team's storage cost.")
    return tenant_cost(tenant=membership.tenant).as_dict()
