"""The browse page's actions on the folder shown: rename, move, move to the trash."""

from __future__ import annotations

from django.contrib import messages
from django.views.decorators.http import require_POST

from accounts.portal import tenant_page
from files.services.folders import folder_update
from files.services.trash import folder_trash
from files.views.actions import back
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip


@require_POST
@tenant_page
def folder_rename(request, membership, folder_id):
    try:
        folder = folder_update(
            membership=membership,
            folder_id=folder_id,
            data={"name": request.POST.get("name", "")},
            ip=client_ip(request),
        )
        messages.success(request, f"Renamed to “{folder.name}”.")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    return back(membership.tenant.slug, str(folder_id))


@require_POST
@tenant_page
def folder_move(request, membership, folder_id):
    parent = request.POST.get("parent") or None
    try:
        folder = folder_update(
            membership=membership, folder_id=folder_id, data={"parent": parent}, ip=client_ip(request)
        )
        messages.success(request, f"Moved “{folder.name}” to {folder.path.rsplit('/', 2)[0] or '/'}.")
    except ApplicationError as exc:
        messages.error(request, exc.detail)
    return back(membership.tenant.slug, str(folder_id))


@require_POST
@tenant_page
def folder_delete(request, membership, folder_id):
    try:
        folder = folder_trash(membership=membership, folder_id=folder_id, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return back(membership.tenant.slug, str(folder_id))
    messages.success(request, f"“{folder.name}” was moved to the trash.")
    return back(membership.tenant.slug, str(folder.parent_id) if folder.parent_id else None)
