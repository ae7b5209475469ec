from __future__ import annotations

from accounts.models import Membership
from files.permissions import can_read_audit_trail
from mediaportal.exceptions import Forbidden


def owners_and_admins(membership: Membership) -> None:
    """403 unless the member may read the tenant's analytics (as its audit trail)."""
    if not can_read_audit_trail(membership=membership):
        raise Forbidden("Only owners and admins can read the tenant's analytics.")
