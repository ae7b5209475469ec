from __future__ import annotations

from accounts.models import Membership, Tenant
from accounts.selectors import membership_get
from accounts.services.mfa import tenant_mfa_check


class TenantScopedMixin:
    # Resolves `tenant_slug` from the URL to the caller's membership before the handler runs.
    # A tenant the caller does not belong to raises 404, so nothing under it can be probed.
    # (Comments, not a docstring: the schema generator would show a docstring on every view.)

    membership: Membership
    tenant: Tenant

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.membership = membership_get(user=request.user, tenant_slug=kwargs["tenant_slug"])
        self.tenant = self.membership.tenant
        tenant_mfa_check(membership=self.membership)
