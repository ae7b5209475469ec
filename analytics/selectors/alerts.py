"""The tenant's quota and budget alerts: the `alerts/` list and the portal's banner."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Membership, Role, User, role_at_least
from analytics.models import Alert
from mediaportal.exceptions import Forbidden, ValidationFailed

ALERT_STATES = ("open", "all")


def alert_list(*, membership: Membership, state: str | None = None) -> QuerySet[Alert]:
    """The tenant's alerts, newest first: the open ones, or with `state="all"` the cleared ones
    too; owners and admins only."""
    if not role_at_least(membership.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can list the team's alerts.")
    state = state or "open"
    if state not in ALERT_STATES:
        raise ValidationFailed("state must be open or all.", code="invalid_state")
    alerts = Alert.objects.filter(tenant_id=membership.tenant_id)
    return alerts.filter(cleared_at__isnull=True) if state == "open" else alerts


def alert_banners(*, user: User, tenant_slug: str) -> list[Alert]:
    """The open alerts of a team the user is a member of, the highest threshold of each kind
    (95 % says more than 80 %): what the portal's banner shows. One query, on the open-alert
    index; which of them a member's role may see is the template's to decide."""
    alerts = Alert.objects.filter(
        tenant__slug=tenant_slug, tenant__memberships__user=user, cleared_at__isnull=True
    ).order_by("kind", "-threshold")
    highest: dict[str, Alert] = {}
    for alert in alerts:
        highest.setdefault(alert.kind, alert)
    return list(highest.values())
