"""Webhooks: a tenant's URLs told about its events, one signed JSON POST per event.

Domain events (mediaportal.events) reach `webhooks_on_event`, connected in AnalyticsConfig.
ready(): it makes one `WebhookDelivery` per active webhook of the tenant subscribed to the
event and queues `analytics.deliver_webhook` for each once that commits. The sending, its
retries and the private-network guard are analytics.services.webhook_delivery.

Owners and admins manage them (files.permissions.can_manage_webhooks); anyone else gets a
403, and another tenant's webhook is a 404.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from accounts.models import Membership, Tenant
from analytics.models import DeliveryState, Webhook, WebhookAttempt, WebhookDelivery
from files.permissions import can_manage_webhooks
from mediaportal.exceptions import Conflict, Forbidden, NotFound, ValidationFailed, parse_id

log = logging.getLogger(__name__)

EVENTS = (
    "file.completed",
    "file.failed",
    "file.archived",
    "file.restored",
    "share.opened",
    "share.downloaded",
    "quota.warning",
    "budget.warning",
)
# Not subscribable: sent to one webhook when someone asks for a test delivery.
PING = "ping"
TASK = "analytics.deliver_webhook"
# Each event fans out to every webhook subscribed to it: keep that bounded.
MAX_WEBHOOKS_PER_TENANT = 20
SECRET_MIN, SECRET_MAX = 8, 200


# --- Checks ----------------------------------------------------------------------------


def _check_allowed(membership: Membership) -> None:
    if not can_manage_webhooks(membership=membership):
        raise Forbidden("Only owners and admins can manage the team's webhooks.")


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may reach `address`: not private, loopback, link-local, site-local,
    multicast, reserved or unspecified (an IPv4 address carried in IPv6 is judged as itself)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 (mapped, 6to4, NAT64) reaches that IPv4 address.
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and address in NAT64:
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return address_is_public(inner)
        if address.is_site_local:
            return False
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


# http(s)://host[:port][/path?query], in the characters a URI may hold (RFC 3986; brackets only
# around an IPv6 host): what the API documents, and what a receiver's server parses as we do.
URL_PATTERN = re.compile(
    r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?([/?#][A-Za-z0-9\-._~:/?#@!$&'()*+,;=%]*)?$"
)


def _clean_url(url: Any) -> str:
    if not isinstance(url, str) or not url.strip():
        raise ValidationFailed("Give the URL to send events to.", code="invalid_url")
    url = url.strip()
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError:
        raise ValidationFailed("The URL is not valid.", code="invalid_url") from None
    if parts.scheme not in ("http", "https") or not host or len(url) > 2000 or not URL_PATTERN.match(url):
        raise ValidationFailed("The URL must be an http:// or https:// address with a host name.", code="invalid_url")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return url  # a name: judged by what it resolves to at each delivery
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS and not address_is_public(literal):
        raise ValidationFailed(
            f"{host} is a private, loopback or otherwise non-public address; webhooks may not reach it.",
            code="webhook_private_target",
        )
    return url


def _clean_events(events: Any) -> list[str]:
    if not isinstance(events, list) or not events:
        raise ValidationFailed("Choose at least one event.", code="invalid_events")
    unknown = [str(name) for name in events if name not in EVENTS]
    if unknown:
        raise ValidationFailed(
            f"Unknown events: {', '.join(unknown)}. Known ones: {', '.join(EVENTS)}.", code="invalid_events"
        )
    return [name for name in EVENTS if name in events]


def _clean_secret(secret: Any) -> str:
    if not isinstance(secret, str) or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise ValidationFailed(
            f"The secret must be text of {SECRET_MIN} to {SECRET_MAX} characters.", code="invalid_secret"
        )
    return secret


def secret_masked(webhook: Webhook) -> str:
    """What is shown of a secret after the answer that created it: enough to tell two apart."""
    return "****" + webhook.secret[-4:]


# --- Managing --------------------------------------------------------------------------


def webhook_list(*, membership: Membership) -> QuerySet[Webhook]:
    _check_allowed(membership)
    return Webhook.objects.filter(tenant_id=membership.tenant_id).select_related("created_by")


def webhook_get(*, membership: Membership, webhook_id) -> Webhook:
    _check_allowed(membership)
    webhook = (
        Webhook.objects.filter(tenant_id=membership.tenant_id, pk=parse_id(webhook_id, "Webhook"))
        .select_related("created_by")
        .first()
    )
    if webhook is None:
        raise NotFound("Webhook not found.")
    return webhook


@transaction.atomic
def webhook_create(*, membership: Membership, url: Any, events: Any, secret: Any = None) -> Webhook:
    """A new webhook; a secret is made when none is given (the caller shows it once)."""
    _check_allowed(membership)
    webhook = Webhook(
        tenant_id=membership.tenant_id,
        url=_clean_url(url),
        events=_clean_events(events),
        secret=secrets.token_urlsafe(32) if secret in (None, "") else _clean_secret(secret),
        created_by=membership.user,
    )
    # Locks the tenant's row so two creations cannot both pass the count.
    Tenant.objects.select_for_update().filter(pk=membership.tenant_id).first()
    if Webhook.objects.filter(tenant_id=membership.tenant_id).count() >= MAX_WEBHOOKS_PER_TENANT:
        raise ValidationFailed(
            f"A team has at most {MAX_WEBHOOKS_PER_TENANT} webhooks; delete one first.", code="too_many_webhooks"
        )
    webhook.save()
    return webhook


@transaction.atomic
def webhook_update(*, membership: Membership, webhook_id, data: dict[str, Any]) -> Webhook:
    """Change `url`, `events`, `active` or `secret` (each optional)."""
    webhook = webhook_get(membership=membership, webhook_id=webhook_id)
    if "url" in data:
        webhook.url = _clean_url(data["url"])
    if "events" in data:
        webhook.events = _clean_events(data["events"])
    if "secret" in data:
        webhook.secret = _clean_secret(data["secret"])
    if "active" in data:
        if not isinstance(data["active"], bool):
            raise ValidationFailed("`active` is true or false.", code="invalid")
        webhook.active = data["active"]
    webhook.save()
    return webhook


def webhook_delete(*, membership: Membership, webhook_id) -> None:
    """Delete it with its deliveries; a delivery already queued finds nothing and stops."""
    webhook_get(membership=membership, webhook_id=webhook_id).delete()


# --- Deliveries ------------------------------------------------------------------------


def delivery_list(*, membership: Membership, webhook_id) -> QuerySet[WebhookDelivery]:
    """The webhook's deliveries with their attempts (one query for the page, one for those)."""
    return deliveries_of(webhook_get(membership=membership, webhook_id=webhook_id))


def deliveries_of(webhook: Webhook) -> QuerySet[WebhookDelivery]:
    """The deliveries of a webhook the caller already got through `webhook_list` or `webhook_get`."""
    attempts = Prefetch("attempt_rows", queryset=WebhookAttempt.objects.order_by("at", "id"))
    return WebhookDelivery.objects.filter(webhook=webhook).prefetch_related(attempts)


def webhook_ping(*, membership: Membership, webhook_id) -> WebhookDelivery:
    """Queue a `ping` delivery to the webhook, so its owner can see it arrive (or why not)."""
    webhook = webhook_get(membership=membership, webhook_id=webhook_id)
    data = {"webhook": str(webhook.pk), "url": webhook.url, "events": webhook.events}
    with transaction.atomic():
        (delivery,) = _deliveries_create(hooks=[(webhook.pk, membership.tenant.slug)], event=PING, data=data)
    return delivery


def delivery_redeliver(*, membership: Membership, webhook_id, delivery_id) -> WebhookDelivery:
    """Send a finished delivery's event again, as a new delivery (its own id and attempts)."""
    webhook = webhook_get(membership=membership, webhook_id=webhook_id)
    old = WebhookDelivery.objects.filter(webhook=webhook, pk=parse_id(delivery_id, "Delivery")).first()
    if old is None:
        raise NotFound("Delivery not found.")
    if old.state == DeliveryState.PENDING:
        raise Conflict("This delivery is still being sent.", code="delivery_pending")
    with transaction.atomic():
        hooks = [(webhook.pk, old.payload.get("tenant", membership.tenant.slug))]
        (delivery,) = _deliveries_create(hooks=hooks, event=old.event, data=old.payload.get("data", {}))
    return delivery


def webhooks_on_event(*, tenant_id, event: str, data: dict[str, Any], **_signal) -> None:
    """Receiver of mediaportal.events.domain_event: one delivery per subscribed webhook.

    It runs for every event, on hot paths (each share page opened): for the many tenants
    without webhooks it costs one probe of the partial index `webhook_tenant_active`.
    """
    if event not in EVENTS:
        return
    hooks = list(
        Webhook.objects.filter(tenant_id=tenant_id, active=True, events__contains=[event]).values_list(
            "pk", "tenant__slug"
        )
    )
    if hooks:
        with transaction.atomic():
            _deliveries_create(hooks=hooks, event=event, data=data)


def _deliveries_create(*, hooks: list[tuple], event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
    """One pending delivery per (webhook id, tenant slug), queued once the caller commits."""
    now = timezone.now()
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    deliveries = []
    for webhook_id, slug in hooks:
        delivery = WebhookDelivery(webhook_id=webhook_id, event=event, created_at=now, next_attempt_at=now)
        delivery.payload = {
            "id": str(delivery.pk),
            "event": event,
            "created_at": now.isoformat(),
            "tenant": slug,
            "data": data,
        }
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    ids = [str(delivery.pk) for delivery in deliveries]
    transaction.on_commit(lambda: [delivery_queue(delivery_id=pk, attempt=1) for pk in ids], robust=True)
    return deliveries


def delivery_queue(*, delivery_id: str, attempt: int, countdown: int | None = None) -> None:
    """Hand attempt number `attempt` of the delivery to a worker (after `countdown` seconds)."""
    try:
        current_app.send_task(TASK, args=[delivery_id, attempt], countdown=countdown)
    except KombuOperationalError:
        # The delivery stays pending with its next_attempt_at; shown as such to its owner.
        log.warning("webhook delivery %s not queued: broker unavailable", delivery_id)
