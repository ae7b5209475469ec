"""One team's administration pages: members and settings.

Every member reads them, as the API lets every member read members and settings; the
controls are for owners and admins, and `accounts.services.tenants` decides every change
(the last owner stays, only owners make owners) exactly as it does for the API.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render

from accounts import selectors
from accounts.forms import InvitationForm, MemberAddForm, MemberRoleForm, TenantSettingsForm
from accounts.models import Membership, Role, role_at_least
from accounts.portal import tenant_page
from accounts.services import tenants
from accounts.views.common import refusal
from mediaportal.exceptions import ApplicationError, Forbidden
from mediaportal.http import client_ip

MEMBER_FIELDS = {"unknown_user": "username", "already_member": "username", "permission_denied": "role"}


def _manages(membership: Membership) -> bool:
    # Which controls to show; the services refuse a change whatever the page showed.
    return role_at_least(membership.role, Role.ADMIN)


def refused(membership: Membership, exc: ApplicationError) -> None:
    """A member who is shown no controls and posts anyway gets the 403 page, as the API's 403."""
    if isinstance(exc, Forbidden) and not _manages(membership):
        raise exc


def members_page(  # noqa: PLR0913 - each keyword is a refusal shown where it belongs
    request, membership, *, form=None, invite_form=None, row_error=None, invitation_error=None, status=200
):
    """The members page; `form`, `invite_form` and `row_error` show a refusal where it belongs."""
    manages = _manages(membership)
    roles = [(value, label) for value, label in Role.choices if membership.role == Role.OWNER or value != Role.OWNER]
    context = {
        "membership": membership,
        "section": "members",
        "members": selectors.member_list(tenant=membership.tenant),
        "form": form or (MemberAddForm() if manages else None),
        "invite_form": invite_form or (InvitationForm() if manages else None),
        "invitations": selectors.invitation_list_pending(actor=membership) if manages else [],
        "manages": manages,
        "assignable_roles": roles,
        "row_error": row_error or {},
        "invitation_error": invitation_error or {},
    }
    return render(request, "accounts/members.html", context, status=status)


@tenant_page
def members(request, membership):
    if request.method != "POST":
        return members_page(request, membership)
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return members_page(request, membership, form=form, status=400)
    try:
        added = tenants.member_add(
            actor=membership,
            username=form.cleaned_data["username"],
            role=form.cleaned_data["role"] or Role.VIEWER,
            ip=client_ip(request),
        )
    except ApplicationError as exc:
        refused(membership, exc)
        status = refusal(form, exc, MEMBER_FIELDS)
        return members_page(request, membership, form=form, status=status)
    messages.success(request, f"{added.user.username} joined as {added.get_role_display().lower()}.")
    return redirect("portal-members", tenant_slug=membership.tenant.slug)


@tenant_page
def member_role(request, membership, user_id):
    member = selectors.member_get(tenant=membership.tenant, user_id=user_id)
    if request.method != "POST":
        return redirect("portal-members", tenant_slug=membership.tenant.slug)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return members_page(request, membership, row_error={member.user_id: "Choose a role."}, status=400)
    try:
        tenants.member_change_role(
            actor=membership, member=member, role=form.cleaned_data["role"], ip=client_ip(request)
        )
    except ApplicationError as exc:
        refused(membership, exc)
        return members_page(request, membership, row_error={member.user_id: exc.detail}, status=exc.status_code)
    messages.success(request, f"{member.user.username} is now {member.get_role_display().lower()}.")
    return redirect("portal-members", tenant_slug=membership.tenant.slug)


@tenant_page
def member_remove(request, membership, user_id):
    member = selectors.member_get(tenant=membership.tenant, user_id=user_id)
    if request.method != "POST":
        return redirect("portal-members", tenant_slug=membership.tenant.slug)
    try:
        tenants.member_remove(actor=membership, member=member, ip=client_ip(request))
    except ApplicationError as exc:
        refused(membership, exc)
        return members_page(request, membership, row_error={member.user_id: exc.detail}, status=exc.status_code)
    if member.user_id == membership.user_id:
        messages.success(request, f"You left {membership.tenant.name}.")
        return redirect("home")
    messages.success(request, f"{member.user.username} was removed from the team.")
    return redirect("portal-members", tenant_slug=membership.tenant.slug)


@tenant_page
def tenant_settings(request, membership):
    tenant = selectors.tenant_with_used_bytes(tenant=membership.tenant)
    form = TenantSettingsForm(request.POST if request.method == "POST" else None, tenant=tenant)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            tenants.tenant_update(membership=membership, data=form.changes(), ip=client_ip(request))
        except ApplicationError as exc:
            refused(membership, exc)
            form.add_error(_field_refused(form, exc), exc.detail)
            status = exc.status_code
        else:
            messages.success(request, "Settings saved." if form.changed_data else "Nothing changed.")
            return redirect("portal-settings", tenant_slug=tenant.slug)
    elif form.is_bound:
        status = 400
    quota = tenant.quota_bytes
    context = {
        "membership": membership,
        "section": "settings",
        "tenant": tenant,
        "form": form,
        "manages": _manages(membership),
        "used_percent": min(100, round(100 * tenant.used_bytes / quota)) if quota else 100,
        "currency": settings.STORAGE_CURRENCY,
    }
    return render(request, "accounts/settings.html", context, status=status)


def _field_refused(form: TenantSettingsForm, exc: ApplicationError) -> str | None:
    # The service names the setting it refuses at the start of its message ("trash_retention_days
    # must be between ..."): show the message at that field rather than above the form.
    if exc.code == "invalid_name":
        return "name"
    if exc.code == "mfa_not_enabled":
        return "require_mfa"
    return form.field_for(exc.detail.split(" ", 1)[0])
