from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ActivityEvent, Membership
from files.permissions import can_read_audit_trail
from mediaportal.exceptions import Forbidden


def activity_list(*, membership: Membership, verb: str | None = None) -> QuerySet[ActivityEvent]:
    """The tenant's audit trail, newest first; owners and admins only."""
    if not can_read_audit_trail(membership=membership):
        raise Forbidden("Only owners and admins can read the activity log.")
    events = ActivityEvent.objects.filter(tenant_id=membership.tenant_id).select_related("user")
    if verb:
        events = events.filter(verb__startswith=verb)
    return events
