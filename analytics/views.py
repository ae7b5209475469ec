"""Portal views of analytics: the activity panel of the file page, loaded by htmx (files may
not import analytics), and team settings → Webhooks."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.portal import tenant_page
from analytics.models import DeliveryState
from analytics.selectors import activity_list
from analytics.services import webhooks
from files.permissions import can_read_file_activity
from files.selectors import file_get_for_actor
from mediaportal.exceptions import ValidationFailed

SHOWN = 20
# What each event says about the file, after the name of who did it.
VERBS = {
    "file.uploaded": "uploaded it",
    "file.version_uploaded": "uploaded a new version",
    "file.version_restored": "restored an earlier version",
    "file.updated": "changed it",
    "file.downloaded": "downloaded it",
    "file.reprocessed": "asked for it to be processed again",
    "file.trashed": "moved it to the trash",
    "file.restored": "restored it from the trash",
    "permission.granted": "granted rights on it",
    "permission.revoked": "removed a grant on it",
    "share.downloaded": "downloaded it through a share link",
    "file.archived": "moved its bytes to the archive",
    "file.retrieved": "brought its bytes back from the archive",
    "file.retrieval_requested": "asked for it to be retrieved from the archive",
    "integrity_repaired": "repaired a damaged stored copy of it",
    "integrity_lost": "found no intact stored copy of it left",
}
# Events of the product's own sweeps and tasks: nobody's, and not a visitor's either.
SYSTEM_VERBS = {"file.archived", "file.retrieved", "integrity_repaired", "integrity_lost"}


def _says(event) -> str:
    said = VERBS.get(event.verb, event.verb)
    data = event.data if isinstance(event.data, dict) else {}
    if event.verb == "file.updated" and data.get("fields"):
        said = f"changed its {', '.join(map(str, data['fields']))}"
    elif event.verb == "file.version_restored" and data.get("from"):
        said = f"restored version {data['from']} as version {data.get('version', '?')}"
    elif event.verb == "file.version_uploaded" and data.get("version"):
        said = f"uploaded version {data['version']}"
    return said


@require_GET
@tenant_page
def file_activity_panel(request, membership, file_id):
    file = file_get_for_actor(membership=membership, file_id=file_id)
    if not can_read_file_activity(membership=membership, file=file):
        return HttpResponse(status=204)  # htmx leaves the page as it is
    events = [
        (event, _says(event)) for event in activity_list(membership=membership, file=file).order_by("-at")[:SHOWN]
    ]
    context = {"file": file, "events": events, "shown": SHOWN, "system_verbs": SYSTEM_VERBS}
    return render(request, "analytics/_file_activity.html", context)


# --- Team settings → Webhooks -----------------------------------------------------------------

DELIVERIES_SHOWN = 10
# The secret of a webhook just made, shown once on the page the creation redirects to.
SECRET_SESSION_KEY = "webhook_secret"


def _webhooks_context(membership, **extra) -> dict:
    rows = []
    for webhook in webhooks.webhook_list(membership=membership).order_by("-created_at", "-id"):
        deliveries = list(webhooks.deliveries_of(webhook).order_by("-created_at", "-id")[:DELIVERIES_SHOWN])
        rows.append({"webhook": webhook, "secret": webhooks.secret_masked(webhook), "deliveries": deliveries})
    busy = any(d.state == DeliveryState.PENDING for row in rows for d in row["deliveries"])
    return {
        "membership": membership,
        "section": "settings",
        "rows": rows,
        "busy": busy,
        "events": webhooks.EVENTS,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@tenant_page
def webhooks_page(request, membership):
    if request.method != "POST":
        created = request.session.pop(SECRET_SESSION_KEY, None)
        return render(request, "analytics/webhooks.html", _webhooks_context(membership, created=created))
    form = {"url": request.POST.get("url", ""), "events": request.POST.getlist("events")}
    try:
        webhook = webhooks.webhook_create(
            membership=membership, url=form["url"], events=form["events"], secret=request.POST.get("secret") or None
        )
    except ValidationFailed as exc:
        context = _webhooks_context(membership, form=form, error=exc.detail)
        return render(request, "analytics/webhooks.html", context, status=400)
    request.session[SECRET_SESSION_KEY] = {"url": webhook.url, "secret": webhook.secret}
    messages.success(request, "Webhook added. Copy its secret now: it is not shown again.")
    return redirect("portal-webhooks", tenant_slug=membership.tenant.slug)


@require_GET
@tenant_page
def webhooks_status(request, membership):
    """The webhooks and their deliveries, polled by htmx while a delivery is pending."""
    return render(request, "analytics/_webhooks.html", _webhooks_context(membership))


@require_POST
@tenant_page
def webhook_test(request, membership, webhook_id):
    webhooks.webhook_ping(membership=membership, webhook_id=webhook_id)
    messages.success(request, "Test delivery queued: it shows below as it is sent.")
    return redirect("portal-webhooks", tenant_slug=membership.tenant.slug)


@require_POST
@tenant_page
def webhook_delete(request, membership, webhook_id):
    webhooks.webhook_delete(membership=membership, webhook_id=webhook_id)
    messages.success(request, "Webhook deleted.")
    return redirect("portal-webhooks", tenant_slug=membership.tenant.slug)
