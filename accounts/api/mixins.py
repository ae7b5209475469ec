from __future__ import annotations

from accounts.models import ApiToken, Membership, Tenant
from accounts.selectors import membership_get
from accounts.services.mfa import tenant_mfa_check
from mediaportal.exceptions import NotFound


def token_tenant_id(request):
    """The team the request's API token is restricted to, or None (a session, or a token for
    all the user's teams)."""
    token = getattr(request, "auth", None)
    return token.tenant_id if isinstance(token, ApiToken) else None


class TenantScopedMixin:
    # Resolves `tenant_slug` from the URL to the caller's membership before the handler runs.
    # A tenant the caller does not belong to raises 404, so nothing under it can be probed;
    # so does any other tenant than the one the caller's token is restricted to. Only views
    # built on this mixin may change anything with a restricted token
    # (accounts.authentication refuses the rest before they run).
    # (Comments, not a docstring: the schema generator would show a docstring on every view.)

    membership: Membership
    tenant: Tenant
    allows_restricted_tokens = True

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        membership = membership_get(user=request.user, tenant_slug=kwargs["tenant_slug"])
        restricted = token_tenant_id(request)
        if restricted is not None and restricted != membership.tenant_id:
            raise NotFound("Tenant not found.")
        tenant_mfa_check(membership=membership)
        self.membership = membership
        self.tenant = membership.tenant
