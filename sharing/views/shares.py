"""The team's share links page: the links a member may see (as the API's `shares/` list),
how each is used, filtered by state, and revoking one.

Links are listed by the same selector as the API (files.permissions.share_links_visible:
owners and admins see all of the team's, anyone else their own) and revoked by the same
service, so a link the member may not see is the 404 page here too.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.portal import tenant_page
from mediaportal.http import client_ip
from sharing.selectors import SHARE_STATES, share_get, share_list_annotated, share_receipts
from sharing.services import links

PAGE_SIZE = 50


@tenant_page
def shares_page(request, membership):
    state = request.GET.get("state") or None
    if state not in SHARE_STATES:
        state = None
    page = min(max(_page_number(request.GET.get("page")), 1), 10_000)
    start = (page - 1) * PAGE_SIZE
    rows = list(share_list_annotated(membership=membership, state=state)[start : start + PAGE_SIZE + 1])
    base = reverse("portal-shares", args=[membership.tenant.slug])
    return render(
        request,
        "sharing/shares.html",
        {
            "membership": membership,
            "section": "shares",
            "links": rows[:PAGE_SIZE],
            "state": state,
            "states": [(None, "All", base), *[(s, s.capitalize(), f"{base}?state={s}") for s in SHARE_STATES]],
            "next_page": page + 1 if len(rows) > PAGE_SIZE else None,
            "previous_page": page - 1 if page > 1 else None,
        },
    )


def _page_number(raw: str | None) -> int:
    try:
        return int(raw or 1)
    except ValueError:
        return 1


@require_POST
@tenant_page
def share_revoke(request, membership, share_id):
    link = share_get(membership=membership, share_id=share_id)
    links.share_revoke(membership=membership, share_id=share_id, ip=client_ip(request))
    target = link.file or link.folder
    messages.success(request, f"Revoked the link to “{target.name if target else 'a deleted item'}”.")
    back = reverse("portal-shares", args=[membership.tenant.slug])
    state = request.POST.get("state")
    return redirect(f"{back}?state={state}" if state in SHARE_STATES else back)


@tenant_page
def share_receipts_page(request, membership, share_id):
    """One link's receipts: totals, a table by day and one by network (no script needed)."""
    link = share_get(membership=membership, share_id=share_id)
    slug = membership.tenant.slug
    context = {
        "membership": membership,
        "section": "shares",
        "link": link,
        "receipts": share_receipts(membership=membership, link=link),
        "csv_url": reverse("share-receipts", args=[slug, link.pk]) + "?export=csv",
        "back": reverse("portal-file", args=[slug, link.file_id]) if link.file_id else None,
    }
    return render(request, "sharing/receipts.html", context)
