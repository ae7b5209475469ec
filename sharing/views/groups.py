"""The team's groups page: named sets of members that files and folders are granted to.

Every member reads it (as the API's `groups/` list); owners and admins change it, through
`sharing.services.groups`, which refuses anyone else whatever the page showed. A member
who is shown no controls and posts anyway gets the 403 page, as the API answers 403.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.models import Membership, User
from accounts.portal import tenant_page
from accounts.selectors import member_list
from files.permissions import can_manage_groups
from mediaportal.exceptions import ApplicationError, Forbidden
from mediaportal.http import client_ip
from sharing.selectors import group_get, group_list
from sharing.services import groups


class GroupNameForm(forms.Form):
    name = forms.CharField(label="Group name", max_length=100)


def _refused(membership: Membership, exc: ApplicationError) -> None:
    if isinstance(exc, Forbidden) and not can_manage_groups(membership=membership):
        raise exc


def _page(request, membership, *, form=None, group_error=None, status=200):
    members = User.objects.order_by("username").only("id", "username")
    listed = group_list(membership=membership).prefetch_related(
        Prefetch("group__user_set", queryset=members, to_attr="members")
    )
    manages = can_manage_groups(membership=membership)
    context = {
        "membership": membership,
        "section": "groups",
        "groups": listed,
        "team_members": [m.user for m in member_list(tenant=membership.tenant)] if manages else [],
        "manages": manages,
        "form": form or GroupNameForm(),
        "group_error": group_error or {},
    }
    return render(request, "sharing/groups.html", context, status=status)


def _back(membership: Membership):
    return redirect("portal-groups", tenant_slug=membership.tenant.slug)


@tenant_page
def group_index(request, membership):
    if request.method != "POST":
        return _page(request, membership)
    form = GroupNameForm(request.POST)
    if not form.is_valid():
        return _page(request, membership, form=form, status=400)
    try:
        group = groups.group_create(membership=membership, name=form.cleaned_data["name"], ip=client_ip(request))
    except ApplicationError as exc:
        _refused(membership, exc)
        form.add_error("name", exc.detail)
        return _page(request, membership, form=form, status=exc.status_code)
    messages.success(request, f"Group “{group.name}” created.")
    return _back(membership)


def _update(request, membership, group_id, data: dict, done: str):
    """Apply one change through `group_update`; a refusal is shown at the group it is about."""
    try:
        group = groups.group_update(membership=membership, group_id=group_id, data=data, ip=client_ip(request))
    except ApplicationError as exc:
        _refused(membership, exc)
        return _page(request, membership, group_error={group_id: exc.detail}, status=exc.status_code)
    messages.success(request, done.format(group=group.name))
    return _back(membership)


def _member_ids(membership, group_id) -> list[str]:
    group = group_get(membership=membership, group_id=group_id)
    return [str(pk) for pk in group.group.user_set.values_list("pk", flat=True)]


@tenant_page
@require_POST
def group_rename(request, membership, group_id):
    form = GroupNameForm(request.POST)
    if not form.is_valid():
        return _page(request, membership, group_error={group_id: "A group needs a name."}, status=400)
    return _update(request, membership, group_id, {"name": form.cleaned_data["name"]}, "Group renamed to “{group}”.")


@tenant_page
@require_POST
def group_member_add(request, membership, group_id):
    user_id = request.POST.get("user", "")
    if not user_id:
        return _page(request, membership, group_error={group_id: "Choose a member to add."}, status=400)
    ids = _member_ids(membership, group_id)
    if user_id in ids:
        return _back(membership)
    return _update(request, membership, group_id, {"members": [*ids, user_id]}, "Member added to “{group}”.")


@tenant_page
@require_POST
def group_member_remove(request, membership, group_id, user_id):
    ids = [pk for pk in _member_ids(membership, group_id) if pk != str(user_id)]
    return _update(request, membership, group_id, {"members": ids}, "Member removed from “{group}”.")


@tenant_page
@require_POST
def group_delete(request, membership, group_id):
    name = group_get(membership=membership, group_id=group_id).name
    try:
        groups.group_delete(membership=membership, group_id=group_id, ip=client_ip(request))
    except ApplicationError as exc:
        _refused(membership, exc)
        return _page(request, membership, group_error={group_id: exc.detail}, status=exc.status_code)
    messages.success(request, f"Group “{name}” deleted.")
    return _back(membership)
