"""Team settings → Exports: the tenant's exports, starting one, and downloading it.

The same services as the API's `exports/` (files.services.exports), so the same rules:
owners and admins only (anyone else gets the 403 page, and another team's export is the
404 page); a refusal (an export already being made, one expired) is a message.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.portal import tenant_page
from files.models import ExportState
from files.services import exports
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip

SHOWN = 50


def _listing(membership) -> dict:
    rows = [
        {
            "export": export,
            "state": "expired" if exports.export_expired(export) else export.state,
            "downloadable": export.state == ExportState.READY and not exports.export_expired(export),
        }
        for export in exports.export_list(membership=membership).order_by("-created_at", "-id")[:SHOWN]
    ]
    busy = any(row["export"].state in exports.ACTIVE for row in rows)
    return {"membership": membership, "section": "settings", "rows": rows, "busy": busy}


@require_http_methods(["GET", "POST"])
@tenant_page
def exports_page(request, membership):
    if request.method != "POST":
        return render(request, "files/exports.html", _listing(membership))
    try:
        exports.export_create(membership=membership, ip=client_ip(request))
    except ApplicationError as exc:
        if exc.status_code in (403, 404):
            raise
        messages.error(request, exc.detail)
    else:
        messages.success(request, "Export started. It is made in the background: this page shows when it is ready.")
    return redirect("portal-exports", tenant_slug=membership.tenant.slug)


@require_GET
@tenant_page
def exports_status(request, membership):
    """The exports table, polled by htmx while one is pending or running."""
    return render(request, "files/_exports.html", _listing(membership))


@require_GET
@tenant_page
def export_download(request, membership, export_id):
    try:
        url = exports.export_download(membership=membership, export_id=export_id, ip=client_ip(request))
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.detail)
        return redirect("portal-exports", tenant_slug=membership.tenant.slug)
    response = HttpResponseRedirect(url)
    response["Cache-Control"] = "no-store"
    return response
