"""Invitations in the portal: inviting, resending and revoking on a team's members page, and
the page a mailed link opens, where the invited person accepts.

`accounts.services.invitations` decides everything, exactly as for the API; these pages show
its refusals where they belong, with the API's status.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render

from accounts import selectors
from accounts.forms import InvitationForm
from accounts.models import Role
from accounts.portal import tenant_page
from accounts.services import invitations
from accounts.views.common import refusal
from accounts.views.team import members_page, refused
from mediaportal.exceptions import ApplicationError, Forbidden, NotFound
from mediaportal.http import client_ip

INVITE_FIELDS = {"already_member": "email", "invalid_email": "email", "permission_denied": "role"}


@tenant_page
def invite(request, membership):
    if request.method != "POST":
        return redirect("portal-members", tenant_slug=membership.tenant.slug)
    form = InvitationForm(request.POST)
    if not form.is_valid():
        refused(membership, Forbidden())
        return members_page(request, membership, invite_form=form, status=400)
    try:
        invitation, created = invitations.invitation_create(
            actor=membership,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"] or Role.VIEWER,
            ip=client_ip(request),
        )
    except ApplicationError as exc:
        refused(membership, exc)
        return members_page(request, membership, invite_form=form, status=refusal(form, exc, INVITE_FIELDS))
    again = "" if created else " again"
    messages.success(request, f"Invitation sent{again} to {invitation.email}.")
    return redirect("portal-members", tenant_slug=membership.tenant.slug)


def _invitation_action(request, membership, invitation_id, action, done: str):
    if request.method != "POST":
        return redirect("portal-members", tenant_slug=membership.tenant.slug)
    invitation = selectors.invitation_get(actor=membership, invitation_id=invitation_id)
    try:
        action(actor=membership, invitation=invitation, ip=client_ip(request))
    except ApplicationError as exc:
        refused(membership, exc)
        errors = {invitation.pk: exc.detail}
        return members_page(request, membership, invitation_error=errors, status=exc.status_code)
    messages.success(request, done.format(email=invitation.email))
    return redirect("portal-members", tenant_slug=membership.tenant.slug)


@tenant_page
def invitation_resend(request, membership, invitation_id):
    return _invitation_action(
        request, membership, invitation_id, invitations.invitation_resend, "Invitation sent again to {email}."
    )


@tenant_page
def invitation_revoke(request, membership, invitation_id):
    return _invitation_action(
        request, membership, invitation_id, invitations.invitation_revoke, "Invitation to {email} revoked."
    )


@login_required
def invitation_page(request, token: str):
    """What a mailed link opens: the team, role and inviter, and an Accept button; or a page
    saying why this account cannot accept (with what to do about it), with the API's status."""
    try:
        invitation, problem = invitations.invitation_for_user(user=request.user, token=token)
    except NotFound:
        raise Http404 from None
    if request.method == "POST" and problem is None:
        try:
            membership = invitations.invitation_accept(user=request.user, token=token, ip=client_ip(request))
        except ApplicationError as exc:  # lost a race with another acceptance, or it expired meanwhile
            problem = exc
        else:
            tenant = membership.tenant
            messages.success(
                request, f"Welcome to {tenant.name}. You joined as {membership.get_role_display().lower()}."
            )
            return redirect("portal-browse", tenant_slug=tenant.slug)
    context = {
        "invitation": invitation,
        "inviter": invitation.invited_by.username if invitation.invited_by else None,
        "problem": problem,
        "masked_email": invitations.email_mask(invitation.email),
    }
    return render(
        request, "accounts/invitation.html", context, status=problem.status_code if problem is not None else 200
    )
