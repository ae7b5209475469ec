"""Reads for accounts and tenants. A tenant the user is not a member of does not exist for them."""

from __future__ import annotations

import hashlib

from allauth.account.models import EmailAddress
from django.db.models import Count, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import ActivityEvent, ApiToken, Invitation, Membership, Role, Tenant, User, role_at_least
from mediaportal.exceptions import Forbidden, NotFound
from mediaportal.queries import one_or_none


def membership_get(*, user: User, tenant_slug: str) -> Membership:
    """The caller's membership in the tenant named by slug; 404 when there is none."""
    membership = (
        one_or_none(Membership.objects.select_related("tenant").filter(user=user, tenant__slug=tenant_slug))
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise NotFound("Tenant not found.")
    membership.user = user  # the caller, already loaded: no second copy of the row
    return membership


def membership_list_for_user(*, user: User, only_tenant_id=None) -> QuerySet[Membership]:
    """The user's memberships; with `only_tenant_id` (a token restricted to one team) that one's only."""
    memberships = Membership.objects.filter(user=user).select_related("tenant").order_by("tenant__name")
    return memberships.filter(tenant_id=only_tenant_id) if only_tenant_id is not None else memberships


def tenant_list_for_user(*, user: User, only_tenant_id=None) -> QuerySet[Tenant]:
    tenants = Tenant.objects.filter(memberships__user=user)
    if only_tenant_id is not None:
        tenants = tenants.filter(pk=only_tenant_id)
    return with_used_bytes(tenants.annotate(member_count=Count("memberships", distinct=True)))


def with_used_bytes(tenants: QuerySet[Tenant]) -> QuerySet[Tenant]:
    """Each tenant with `used_bytes`: bytes stored, shared content counted once (the sum of
    its usage rows, TenantUsage), in the same query."""
    return tenants.annotate(used_bytes=_used_bytes("pk"))


def _used_bytes(tenant_ref: str):
    """A tenant's bytes stored (the sum of its usage rows), for the row whose `tenant_ref` names it."""
    used = Tenant.objects.filter(pk=OuterRef(tenant_ref)).annotate(total=Sum("usage__bytes")).values("total")
    return Coalesce(Subquery(used), 0)


def tenant_with_used_bytes(*, tenant: Tenant) -> Tenant:
    return with_used_bytes(Tenant.objects.filter(pk=tenant.pk)).get()


def member_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.filter(tenant=tenant).select_related("user").order_by("user__username")


def member_get(*, tenant: Tenant, user_id) -> Membership:
    membership = Membership.objects.select_related("user", "tenant").filter(tenant=tenant, user_id=user_id).first()
    if membership is None:
        raise NotFound("Member not found.")
    return membership


def token_list(*, user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("tenant")


def token_get(*, user: User, token_id) -> ApiToken:
    token = token_list(user=user).filter(pk=token_id).first()
    if token is None:
        raise NotFound("Token not found.")
    return token


def membership_list_with_usage(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their tenants and each tenant's `used_bytes`, in one query."""
    return membership_list_for_user(user=user).annotate(used_bytes=_used_bytes("tenant_id"))


def email_verified(*, user: User) -> bool:
    """Whether the account's own address (User.email) is verified."""
    return bool(user.email) and EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists()


def email_list(*, user: User) -> QuerySet[EmailAddress]:
    return EmailAddress.objects.filter(user=user).order_by("-primary", "email")


# --- Invitations ------------------------------------------------------------------


def invitation_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _invitations_visible(actor: Membership) -> None:
    # The invited addresses are the managers' business: other members are refused (403)
    # whichever invitation they name, as for everything else members may not manage.
    if not role_at_least(actor.role, Role.ADMIN):
        raise Forbidden("Only owners and admins can see and manage invitations.")


def invitation_list(*, actor: Membership) -> QuerySet[Invitation]:
    """Every invitation of the actor's tenant, newest first, whatever its state."""
    _invitations_visible(actor)
    return Invitation.objects.filter(tenant=actor.tenant).select_related("invited_by", "accepted_by")


def invitation_list_pending(*, actor: Membership) -> QuerySet[Invitation]:
    """Invitations neither accepted nor revoked (open or expired: both can be resent)."""
    return invitation_list(actor=actor).filter(accepted_at__isnull=True, revoked_at__isnull=True)


def invitation_get(*, actor: Membership, invitation_id) -> Invitation:
    _invitations_visible(actor)
    invitation = invitation_list(actor=actor).filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def invitation_by_token(*, token: str) -> Invitation:
    """The invitation a mailed link names; 404 for a token no invitation has."""
    invitation = (
        Invitation.objects.select_related("tenant", "invited_by")
        .filter(token_hash=invitation_token_hash(token))
        .first()
        if 20 <= len(token) <= 100
        else None
    )
    if invitation is None:
        raise NotFound("Invitation not found.")
    return invitation


def sign_in_list(*, user: User) -> QuerySet[ActivityEvent]:
    """The user's sign-ins and refused sign-ins (user-level events: no tenant), newest first.
    The target is the account, for failures too (whose actor is nobody)."""
    return ActivityEvent.objects.filter(
        tenant__isnull=True,
        target_type=User._meta.model_name,
        target_id=str(user.pk),
        verb__in=("user.login", "user.login_failed"),
    ).order_by("-at")
