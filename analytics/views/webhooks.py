"""Team settings → Webhooks: register, test and remove webhooks, and see their deliveries."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.portal import tenant_page
from analytics.models import DeliveryState
from analytics.services import webhooks
from mediaportal.exceptions import ValidationFailed

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
