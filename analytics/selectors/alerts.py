"""The tenant's quota and budget alerts: the `alerts/` list and the portal's banner."""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db.models import QuerySet

from accounts.models import Membership
from analytics.models import Alert
from files.permissions import can_read_analytics
from mediaportal.exceptions import Forbidden, ValidationFailed

log = logging.getLogger(__name__)

ALERT_STATES = ("open", "all")


def alert_list(*, membership: Membership, state: str | None = None) -> QuerySet[Alert]:
    """The tenant's alerts, newest first: the open ones, or with `state="all"` the cleared ones
    too; owners and admins only."""
    if not can_read_analytics(membership=membership):
        raise Forbidden("Only owners and admins can list the team's alerts.")
    state = state or "open"
    if state not in ALERT_STATES:
        raise ValidationFailed("state must be open or all.", code="invalid_state")
    alerts = Alert.objects.filter(tenant_id=membership.tenant_id)
    return alerts.filter(cleared_at__isnull=True) if state == "open" else alerts


# The banner's alerts are cached per tenant (every team page shows them). The alert check
# drops the entry when it raises or clears one; a page that read the alerts just before that
# commit may still write the old list back after it, so the time bounds how long that lasts.
BANNER_CACHE_SECONDS = 60


def banner_cache_key(tenant_id) -> str:
    return f"alerts:banner:{tenant_id}"


def alert_banners(*, tenant_id) -> list[Alert]:
    """The tenant's open alerts, the highest threshold of each kind (95 % says more than
    80 %): what the portal's banner shows to its members (which of them a member's role may
    see is the template's to decide). From the cache, else one query on the open-alert index."""
    key = banner_cache_key(tenant_id)
    try:
        cached = cache.get(key)
    except Exception:  # noqa: BLE001 - a cache that is down costs the query, not the page
        log.warning("the alert banner cache is unavailable", exc_info=True)
        cached = None
    if cached is not None:
        return cached
    highest: dict[str, Alert] = {}
    for alert in Alert.objects.filter(tenant_id=tenant_id, cleared_at__isnull=True).order_by("kind", "-threshold"):
        highest.setdefault(alert.kind, alert)
    banners = list(highest.values())
    try:
        cache.set(key, banners, BANNER_CACHE_SECONDS)
    except Exception:  # noqa: BLE001
        log.warning("the alert banner cache is unavailable", exc_info=True)
    return banners
