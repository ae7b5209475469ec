from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import ActivityEvent, Membership
from files.models import File
from files.permissions import can_read_audit_trail, can_read_file_activity
from mediaportal.exceptions import Forbidden


def activity_list(
    *, membership: Membership, verb: str | None = None, file: File | None = None
) -> QuerySet[ActivityEvent]:
    """The tenant's audit trail, newest first; owners and admins only. With `file`, only the
    events targeting that file, which its owner may read too."""
    if file is not None:
        if not can_read_file_activity(membership=membership, file=file):
            raise Forbidden("Only the file's owner, owners and admins can read its activity.")
    elif not can_read_audit_trail(membership=membership):
        raise Forbidden("Only owners and admins can read the activity log.")
    events = ActivityEvent.objects.filter(tenant_id=membership.tenant_id).select_related("user")
    if file is not None:
        events = events.filter(target_type="file", target_id=str(file.pk))
    if verb:
        events = events.filter(verb__startswith=verb)
    return events
