"""Invitations: owners and admins invite an e-mail address with a role; the mailed link is
accepted once, before it expires, by a signed-in user who holds that address verified.

The link's token is random and shown to nobody but the invited address: only its SHA-256 is
stored, the API never returns it, and resending replaces it (the old link dies).
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Role, Tenant, User
from accounts.selectors import invitation_by_token, invitation_token_hash
from accounts.services.audit import event_record
from accounts.services.tenants import member_manager_check
from mediaportal.exceptions import ApplicationError, Conflict, Forbidden, ValidationFailed
from mediaportal.http import site_url

log = logging.getLogger(__name__)


class InvitationGone(ApplicationError):
    """410: the invitation was used, revoked or has expired; its link leads nowhere now."""

    status_code = 410
    default_code = "invitation_expired"
    default_detail = "This invitation has expired."


# An invitation's state → the refusal its link answers with once it is no longer open.
GONE = {
    "accepted": ("invitation_used", "This invitation has already been used."),
    "revoked": ("invitation_revoked", "This invitation was revoked."),
    "expired": ("invitation_expired", "This invitation has expired. Ask the team for a new one."),
}


def email_mask(email: str) -> str:
    """`a***@example.com`: enough for the right person to recognise their address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _email_clean(email: str) -> str:
    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationFailed("Enter a valid e-mail address.", code="invalid_email") from None
    return email


def _is_member(tenant: Tenant, email: str) -> bool:
    if Membership.objects.filter(tenant=tenant, user__email__iexact=email).exists():
        return True
    return EmailAddress.objects.filter(user__memberships__tenant=tenant, email__iexact=email, verified=True).exists()


def _pending_locked(tenant: Tenant, email: str) -> Invitation | None:
    # The partial unique constraint allows one such row per address and tenant.
    return (
        Invitation.objects.select_for_update()
        .filter(tenant=tenant, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True)
        .first()
    )


def _expiry():
    return timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str, ip: str | None = None) -> tuple[Invitation, bool]:
    """Invite `email` to the actor's tenant with `role` and mail the link (once committed).

    An address with an invitation still pending (open or expired) gets that one again, with
    the new role, a new token and a new expiry, rather than a second one. Returns the
    invitation and whether it is new.
    """
    member_manager_check(actor, role)
    email = _email_clean(email)
    if _is_member(actor.tenant, email):
        raise Conflict("A member of this team already has that address.", code="already_member")
    pending = _pending_locked(actor.tenant, email)
    if pending is None:
        token = secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                invitation = Invitation.objects.create(
                    tenant=actor.tenant,
                    email=email,
                    role=role,
                    token_hash=invitation_token_hash(token),
                    invited_by=actor.user,
                    expires_at=_expiry(),
                )
        except IntegrityError:
            # The same address invited by a concurrent request, committed while we waited on
            # the constraint: send that one again instead.
            pending = _pending_locked(actor.tenant, email)
            if pending is None:  # ...and already accepted or revoked in between
                raise Conflict("That address was just invited by someone else; try again.") from None
        else:
            event_record(
                verb="invitation.created",
                tenant=actor.tenant,
                actor=actor.user,
                target=invitation,
                ip=ip,
                data={"email": email, "role": role},
            )
            _mail_on_commit(invitation, token, inviter=actor.user)
            return invitation, True
    return _send_again(actor=actor, invitation=pending, role=role, ip=ip), False


@transaction.atomic
def invitation_resend(*, actor: Membership, invitation: Invitation, ip: str | None = None) -> Invitation:
    """Mail a pending invitation again with a new token and a new expiry; the old link dies."""
    locked = Invitation.objects.select_for_update().get(pk=invitation.pk)
    return _send_again(actor=actor, invitation=locked, role=locked.role, ip=ip)


def _send_again(*, actor: Membership, invitation: Invitation, role: str, ip: str | None) -> Invitation:
    member_manager_check(actor, Role.OWNER if Role.OWNER in (role, invitation.role) else role)
    if invitation.state in ("accepted", "revoked"):
        raise Conflict(f"This invitation was {invitation.state}; invite the address again.", code="invitation_closed")
    token = secrets.token_urlsafe(32)
    invitation.token_hash = invitation_token_hash(token)
    invitation.role = role
    invitation.sent_at = timezone.now()
    invitation.expires_at = _expiry()
    invitation.invited_by = actor.user
    invitation.save(update_fields=["token_hash", "role", "sent_at", "expires_at", "invited_by"])
    event_record(
        verb="invitation.resent",
        tenant=actor.tenant,
        actor=actor.user,
        target=invitation,
        ip=ip,
        data={"email": invitation.email, "role": role},
    )
    _mail_on_commit(invitation, token, inviter=actor.user)
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation, ip: str | None = None) -> Invitation:
    """Turn a pending invitation's link off; it stays listed as `revoked`. Revoking twice is
    a no-op; an accepted invitation cannot be revoked (remove the member instead)."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    member_manager_check(actor, invitation.role)
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was accepted; remove the member instead.", code="invitation_closed")
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        event_record(
            verb="invitation.revoked",
            tenant=actor.tenant,
            actor=actor.user,
            target=invitation,
            ip=ip,
            data={"email": invitation.email, "role": invitation.role},
        )
    return invitation


# --- Accepting ------------------------------------------------------------------------


def acceptance_refusal(*, invitation: Invitation, user: User) -> ApplicationError | None:
    """Why `user` may not accept `invitation` now, or None when they may."""
    state = invitation.state
    if state != "open":
        code, detail = GONE[state]
        return InvitationGone(detail, code=code)
    if Membership.objects.filter(tenant_id=invitation.tenant_id, user=user).exists():
        return Conflict(f"You are already a member of {invitation.tenant.name}.", code="already_member")
    addresses = EmailAddress.objects.filter(user=user, email__iexact=invitation.email)
    if addresses.filter(verified=True).exists():
        return None
    if addresses.exists() or user.email.lower() == invitation.email.lower():
        return Forbidden(
            f"Your address {invitation.email} is not verified yet. Open the verification link we mailed "
            "you (or have it sent again from your e-mail addresses page), then accept the invitation.",
            code="email_unverified",
        )
    return Forbidden(
        f"This invitation is for {email_mask(invitation.email)}, which is not a verified address of your "
        "account. Sign out and sign in with the account that has that address.",
        code="invitation_wrong_account",
    )


def invitation_for_user(*, user: User, token: str) -> tuple[Invitation, ApplicationError | None]:
    """The invitation behind a link (404 for an unknown token) and why `user` may not accept
    it, if they may not."""
    invitation = invitation_by_token(token=token)
    return invitation, acceptance_refusal(invitation=invitation, user=user)


@transaction.atomic
def invitation_accept(*, user: User, token: str, ip: str | None = None) -> Membership:
    """Join the tenant with the invitation's role; refused as `acceptance_refusal` says.

    A refusal changes nothing: an already-member's invitation stays pending (their role is
    member_change_role's business), for a manager to revoke or to expire.
    """
    found = invitation_by_token(token=token)
    # The row lock makes acceptance single-use: a second request waits here, then sees it used.
    invitation = Invitation.objects.select_for_update(of=("self",)).select_related("tenant").get(pk=found.pk)
    refusal = acceptance_refusal(invitation=invitation, user=user)
    if refusal is not None:
        raise refusal
    try:
        with transaction.atomic():
            membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    except IntegrityError:
        raise Conflict(f"You are already a member of {invitation.tenant.name}.", code="already_member") from None
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    event_record(
        verb="member.joined",
        tenant=invitation.tenant,
        actor=user,
        target=user,
        ip=ip,
        data={"role": invitation.role, "invitation": str(invitation.pk)},
    )
    return membership


# --- The mail -------------------------------------------------------------------------


def _mail_on_commit(invitation: Invitation, token: str, *, inviter: User) -> None:
    context = {
        "tenant": invitation.tenant,
        "role": invitation.get_role_display().lower(),
        "inviter": inviter.get_full_name() or inviter.username,
        "link": site_url(reverse("portal-invitation", args=[token])),
        "expires_at": invitation.expires_at,
        "site_url": settings.SITE_URL,
    }
    message = EmailMultiAlternatives(
        subject=f"{context['inviter']} invited you to {invitation.tenant.name} on MediaPortal",
        body=render_to_string("accounts/email/invitation.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[invitation.email],
    )
    message.attach_alternative(render_to_string("accounts/email/invitation.html", context), "text/html")
    invitation_id = invitation.pk

    def send() -> None:
        message.send()
        log.info("invitation %s mailed", invitation_id)

    # Robust: a mail server that is down must not turn the committed invitation into a 500;
    # Django logs the failure, and the manager can resend.
    transaction.on_commit(send, robust=True)
