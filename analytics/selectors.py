from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ActivityEvent, Membership
from files.models import File
from files.permissions import can_read_audit_trail, can_read_file_activity
from mediaportal.exceptions import Forbidden


def activity_list(*, membership: Membership, verb: str | None = None) -> QuerySet[ActivityEvent]:
    """The tenant's audit trail, newest first; owners and admins only."""
    if not can_read_audit_trail(membership=membership):
        raise Forbidden("Only owners and admins can read the activity log.")
    events = ActivityEvent.objects.filter(tenant_id=membership.tenant_id).select_related("user")
    if verb:
        events = events.filter(verb__startswith=verb)
    return events


def file_activity(*, membership: Membership, file: File, limit: int = 20) -> list[ActivityEvent]:
    """The newest audit events targeting one file (bounded), for those who may read them."""
    if not can_read_file_activity(membership=membership, file=file):
        raise Forbidden("Only the file's owner, owners and admins can read its activity.")
    events = ActivityEvent.objects.filter(
        tenant_id=membership.tenant_id, target_type="file", target_id=str(file.pk)
    ).select_related("user")
    return list(events.order_by("-at")[:limit])
