from __future__ import annotations

from accounts.models import Membership
from files.permissions import can_read_analytics
from mediaportal.exceptions import Forbidden


def owners_and_admins(membership: Membership) -> None:
    """403 unless the member may read the tenant's analytics."""
    if not can_read_analytics(membership=membership):
        raise Forbidden("Only owners and admins can read the tenant's analytics.")
