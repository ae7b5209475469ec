"""The sharing panels of the portal's file page: who can see the file and why (with its
grants), and its share links.

The file page belongs to `files`, which may not import `sharing`; it loads these panels with
htmx from the URLs below. Each panel answers its own forms with itself (inline errors) to
htmx, and with a redirect to the file page to a browser without script. Writes go through
`sharing.services` with the rules of `files.permissions`, as the API's do.
"""

from __future__ import annotations

from datetime import datetime, time

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.http import require_POST

from accounts.models import Membership
from accounts.portal import tenant_page
from files.models import File, Visibility
from files.permissions import GRANTS, can_share, sees_all
from files.selectors import file_get_for_actor
from mediaportal.exceptions import ApplicationError, ValidationFailed
from mediaportal.http import client_ip
from sharing import selectors
from sharing.api.serializers import MAX_DOWNLOADS
from sharing.services import grants, links

VISIBILITY_WHY = {
    Visibility.PRIVATE: "Private: only its owner, the team's owners and admins, and the people and groups below.",
    Visibility.TENANT: "Team: every member of the team can see it.",
    Visibility.PUBLIC: "Public: anyone with its address can see it, without an account.",
}


def _to_file_page(request, membership: Membership, file_id, message: str, *, error: bool = False):
    (messages.error if error else messages.success)(request, message)
    return redirect(reverse("portal-file", args=[membership.tenant.slug, file_id]))


# --- Permissions ----------------------------------------------------------------------


def _why_you(membership: Membership, file: File) -> str:
    if file.owner_id == membership.user_id:
        return "You own it."
    if sees_all(membership):
        return f"You are {membership.get_role_display().lower()} of the team, who sees every file."
    if file.visibility != Visibility.PRIVATE:
        return "Its visibility lets every member see it."
    return "It was granted to you or a group of yours, here or on a folder above it."


def _permissions_context(membership: Membership, file: File, **extra) -> dict:
    may_share = can_share(membership=membership, target=file)
    context = {
        "membership": membership,
        "file": file,
        "may_share": may_share,
        "why_you": _why_you(membership, file),
        "visibility_why": VISIBILITY_WHY.get(file.visibility, file.visibility),
        "perms": GRANTS,
        "checked": ["view"],
        **extra,
    }
    # As in the API, a file's grants are listed to those who may share it.
    if may_share:
        groups = list(selectors.group_list(membership=membership))
        names = {group.pk: group.name for group in groups}
        direct = selectors.grant_list(target=file)
        for grant in direct:
            grant["name"] = grant["username"] or names.get(grant["group"], "(group)")
        context.update(groups=groups, direct=direct, inherited=selectors.inherited_grants(file=file))
    return context


def _grant(request, membership: Membership, file: File) -> dict:
    """Add the grant the panel's form asks for; returns what the panel shows after it."""
    username = request.POST.get("username", "").strip()
    group_id = request.POST.get("group", "").strip()
    permissions = [perm for perm in GRANTS if perm in request.POST.getlist("permissions")]
    values = {"username": username, "group_id": group_id, "checked": permissions}
    try:
        if bool(username) == bool(group_id):
            raise ValidationFailed("Give either a member's username or a group.", code="invalid_principal")
        user_id = None
        if username:
            grantee = selectors.grantee_by_username(membership=membership, username=username)
            if grantee is None:
                raise ValidationFailed(f"No member of this team is called “{username}”.", code="unknown_user")
            user_id = grantee.user_id
        target = grants.grant_target(membership=membership, kind="file", object_id=file.pk)
        grants.grant_set(
            membership=membership,
            target=target,
            permissions=permissions,
            user_id=user_id,
            group_id=group_id or None,
            ip=client_ip(request),
        )
    except ApplicationError as exc:
        return {**values, "error": exc.detail}
    return {"notice": f"Granted {', '.join(permissions)} to {username or 'the group'}."}


@tenant_page
def file_permissions(request, membership, file_id):
    file = file_get_for_actor(membership=membership, file_id=file_id)
    extra: dict = {}
    if request.method == "POST":
        grants.grant_target(membership=membership, kind="file", object_id=file.pk)  # 403 without share
        extra = _grant(request, membership, file)
        if not request.htmx:
            return _to_file_page(
                request, membership, file.pk, extra.get("error") or extra["notice"], error="error" in extra
            )
    return render(request, "sharing/file/_permissions.html", _permissions_context(membership, file, **extra))


@require_POST
@tenant_page
def file_permission_remove(request, membership, file_id, grant_id):
    target = grants.grant_target(membership=membership, kind="file", object_id=file_id)
    extra: dict = {}
    try:
        grants.grant_revoke(membership=membership, target=target, grant_id=grant_id, ip=client_ip(request))
        extra["notice"] = "Grant removed."
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        extra["error"] = exc.detail
    if not request.htmx:
        return _to_file_page(
            request, membership, target.pk, extra.get("error") or extra["notice"], error="error" in extra
        )
    return render(request, "sharing/file/_permissions.html", _permissions_context(membership, target, **extra))


# --- Share links ----------------------------------------------------------------------


def _links_context(membership: Membership, file: File) -> dict:
    shown = list(selectors.share_list_annotated(membership=membership).filter(file=file)[:LINKS_SHOWN])
    return {
        "membership": membership,
        "file": file,
        "may_share": can_share(membership=membership, target=file),
        "links": shown,
        "default_expiry": (timezone.localdate() + links.DEFAULT_EXPIRY).isoformat(),
        "today": timezone.localdate().isoformat(),
    }


def _expiry(raw: str) -> datetime | None:
    """The `Expires` field: a date (the link works until that day ends) or a date and time."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = parse_date(raw)
        # A bare date would parse as a date-time at its first second: it means its last here.
        moment = datetime.combine(day, time(23, 59, 59)) if day else parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise ValidationFailed("Expires must be a date.", code="invalid_expiry")
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _max_downloads(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DOWNLOADS:
        raise ValidationFailed("Download limit must be a whole number of at least 1.", code="invalid")
    return int(raw)


# The links of one file the panel lists, newest first.
LINKS_SHOWN = 50
FIELD_OF_CODE = {"invalid_expiry": "expires", "expiry_too_far": "expires", "invalid": "max_downloads"}


@tenant_page
def file_links(request, membership, file_id):
    file = file_get_for_actor(membership=membership, file_id=file_id)
    if request.method != "POST":
        return render(request, "sharing/file/_links.html", _links_context(membership, file))
    file = file_get_for_actor(membership=membership, file_id=file_id, perm="share")  # 403 without share
    values = {key: request.POST.get(key, "") for key in ("expires", "max_downloads", "notify_on_first_open")}
    try:
        link, token = links.share_create(
            membership=membership,
            file_id=file.pk,
            expires_at=_expiry(values["expires"]),
            password=request.POST.get("password", ""),
            max_downloads=_max_downloads(values["max_downloads"]),
            notify_on_first_open=bool(values["notify_on_first_open"]),
            ip=client_ip(request),
        )
    except ApplicationError as exc:
        if not request.htmx:
            return _to_file_page(request, membership, file.pk, exc.detail, error=True)
        context = {
            **_links_context(membership, file),
            "values": values,
            "errors": {FIELD_OF_CODE.get(exc.code, "form"): exc.detail},
        }
        response = render(request, "sharing/file/_link_form.html", context)
        # The form comes back with its errors in place of the result area's new link.
        response["HX-Retarget"] = "#share-form"
        response["HX-Reswap"] = "outerHTML"
        return response
    # The absolute address this browser reached the portal at: the link goes to the same place.
    url = request.build_absolute_uri(reverse("share-page", args=[token]))
    if not request.htmx:
        return _to_file_page(request, membership, file.pk, f"Share link created: {url}")
    context = {**_links_context(membership, file), "url": url, "link": link}
    return render(request, "sharing/file/_link_created.html", context)


@require_POST
@tenant_page
def file_link_revoke(request, membership, file_id, share_id):
    file = file_get_for_actor(membership=membership, file_id=file_id)
    link = selectors.share_get(membership=membership, share_id=share_id)
    if link.file_id != file.pk:
        return HttpResponse(status=404)
    links.share_revoke(membership=membership, share_id=link.pk, ip=client_ip(request))
    if not request.htmx:
        return _to_file_page(request, membership, file.pk, "Share link revoked.")
    return render(request, "sharing/file/_links_list.html", _links_context(membership, file))
