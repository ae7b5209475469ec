"""The trash page: what was deleted, restoring it, and purging it for good.

The same services as the API's `trash/` (files.services.trash), so the same rules: a member
sees and handles the entries files.permissions lets them (owners and admins all, anyone
else their own), an entry they may not touch is the 404 page, and a refusal (a folder
holding others' files) is shown as a message and changes nothing.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.portal import tenant_page
from files.services import trash
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip

PAGE_SIZE = 50


@tenant_page
def trash_page(request, membership):
    try:
        after = trash.trash_cursor_parse(request.GET.get("after"))
    except ApplicationError:
        after = None  # a mangled "Older entries" link starts again from the newest
    entries = trash.trash_entries(membership=membership, limit=PAGE_SIZE + 1, after=after)
    page, more = entries[:PAGE_SIZE], len(entries) > PAGE_SIZE
    for entry in page:
        entry["purge_at"] = trash.trash_purge_date(tenant=membership.tenant, deleted_at=entry["deleted_at"])
    return render(
        request,
        "files/trash.html",
        {
            "membership": membership,
            "section": "trash",
            "entries": page,
            "older": trash.trash_cursor(page[-1]) if more else None,
            "first_page": after is None,
            "retention_days": membership.tenant.trash_retention_days,
        },
    )


def _back(membership):
    return redirect(reverse("portal-trash", args=[membership.tenant.slug]))


@require_POST
@tenant_page
def trash_restore(request, membership, item_id):
    try:
        item = trash.trash_restore(membership=membership, item_id=item_id, ip=client_ip(request))
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.detail)
        return _back(membership)
    if item._meta.model_name == "folder":
        where = item.parent.display_path if item.parent else "/"
    else:
        where = item.folder.display_path if item.folder else "/"
    messages.success(request, f"Restored “{item.name}” to {where}.")
    return _back(membership)


@require_POST
@tenant_page
def trash_purge(request, membership, item_id):
    try:
        trash.trash_purge(membership=membership, item_id=item_id, ip=client_ip(request))
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.detail)
        return _back(membership)
    messages.success(request, "Deleted for good.")
    return _back(membership)


@require_POST
@tenant_page
def trash_empty(request, membership):
    try:
        purged = trash.trash_empty(membership=membership, ip=client_ip(request))
    except ApplicationError as exc:
        messages.error(request, exc.detail)
        return _back(membership)
    left = trash.trash_entries(membership=membership, limit=1)
    note = " Some folders stay: they hold files you may not delete." if left else ""
    messages.success(request, f"Emptied the trash: {purged} file{'' if purged == 1 else 's'} deleted for good.{note}")
    return _back(membership)
