"""Similar images in the portal: the file page's "Similar" panel and the duplicates review
page, on the same services as the API (files.services.similar, duplicates), so the same
rules: only files the member may see, and a resolve they may not make changes nothing."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.portal import tenant_page
from files.services import duplicates, similar
from mediaportal.exceptions import ApplicationError
from mediaportal.http import client_ip

GROUPS_PER_PAGE = 20


@require_GET
@tenant_page
def file_similar_panel(request, membership, file_id):
    """The panel, loaded by htmx once the file page shows."""
    matches, best = similar.file_similar(membership=membership, file_id=file_id)
    context = {"membership": membership, "file_id": file_id, "matches": matches, "best": best}
    return render(request, "files/file/_similar.html", context)


@require_GET
@tenant_page
def duplicates_page(request, membership):
    try:
        after = int(request.GET["after"]) if request.GET.get("after") else None
    except ValueError:
        after = None  # a mangled "More groups" link starts again from the first
    groups, more = similar.duplicate_groups(membership=membership, limit=GROUPS_PER_PAGE, after=after)
    context = {
        "membership": membership,
        "section": "duplicates",
        "groups": groups,
        "more": more,
        "first_page": after is None,
    }
    return render(request, "files/duplicates.html", context)


@require_POST
@tenant_page
def duplicates_resolve(request, membership):
    keep = request.POST.get("keep", "")
    others = [pk for pk in request.POST.getlist("members") if pk != keep]
    action = request.POST.get("action", "")
    try:
        kept, resolved = duplicates.duplicates_resolve(
            membership=membership, keep_id=keep, other_ids=others, action=action, ip=client_ip(request)
        )
    except ApplicationError as exc:
        if exc.status_code == 404:
            raise
        messages.error(request, exc.detail)
    else:
        how = "kept as earlier versions of it" if action == "versions" else "moved to the trash"
        messages.success(
            request, f"Kept “{kept.name}”; {len(resolved)} other cop{'y' if len(resolved) == 1 else 'ies'} {how}."
        )
    return redirect(reverse("portal-duplicates", args=[membership.tenant.slug]))
