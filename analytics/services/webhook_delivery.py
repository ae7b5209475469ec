"""Sending a webhook delivery: one attempt per run of `analytics.deliver_webhook`.

Each attempt POSTs the delivery's payload, the same bytes every time, signed with the
webhook's secret (`X-MediaPortal-Signature: sha256=<hex HMAC-SHA256 of the body>`), and is
recorded as a `WebhookAttempt`. A 2xx answer delivers it; anything else is tried again after
a growing wait (RETRY_DELAYS) until WEBHOOK_MAX_ATTEMPTS, then the delivery is failed.

The private-network guard works on the address actually connected to: the host is resolved
once, every address it resolves to must be public (webhooks.address_is_public) unless
WEBHOOK_ALLOW_PRIVATE_NETWORKS, and the connection goes to that address (the name is only
the Host header and, for https, the name the certificate must carry), so a name that
resolves to a public address for the check and a private one a moment later cannot reach
the services beside the portal. Redirects are not followed, for the same reason.

Runs twice at most once: attempt n is claimed by moving `attempts` from n-1 to n while the
delivery is pending, so a task the broker delivers again (its visibility timeout is shorter
than the longest waits) changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analytics.models import DeliveryState, WebhookAttempt, WebhookDelivery
from analytics.services.webhooks import PING, address_is_public, delivery_queue
from mediaportal.metrics import WEBHOOK_FAILURES

log = logging.getLogger(__name__)

# Seconds to wait after attempt n (n = 1, 2, ...) before the next; the last repeats.
RETRY_DELAYS = (30, 120, 480, 1800, 7200, 21600)
CONNECT_TIMEOUT, TOTAL_TIMEOUT = 5.0, 10.0
EXCERPT_BYTES = 1024
USER_AGENT = "MediaPortal-Webhooks/1"
# A pending delivery this far past its next attempt lost its task (deliveries_requeue).
REQUEUE_GRACE = timedelta(minutes=10)


class Refused(Exception):
    """The target may not be reached: trying again would not change that."""


class Unreachable(Exception):
    """The target could not be reached this time (no such name yet, connection refused, timeout)."""


@dataclass
class Outcome:
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    retry: bool = True

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(attempt: int) -> int:
    """Seconds between attempt `attempt` and the next."""
    return RETRY_DELAYS[min(attempt, len(RETRY_DELAYS)) - 1]


def body_bytes(payload: dict) -> bytes:
    """The exact bytes sent (and signed): the same for every attempt of a delivery."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_attempt(*, delivery_id: str, attempt: int) -> str:
    """Make attempt number `attempt` of the delivery; returns its state afterwards, or
    "skipped" when that attempt was made already or the delivery is finished or gone."""
    # next_attempt_at moves past this attempt's end: the sweep only takes what is overdue.
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING, attempts=attempt - 1).update(
        attempts=attempt, next_attempt_at=timezone.now() + timedelta(seconds=TOTAL_TIMEOUT)
    )
    delivery = WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()
    if not claimed or delivery is None:
        return "skipped"
    webhook = delivery.webhook
    started = time.monotonic()
    if not webhook.active and delivery.event != PING:
        outcome = Outcome(error="The webhook is disabled.", retry=False)
    else:
        body = body_bytes(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-MediaPortal-Event": delivery.event,
            "X-MediaPortal-Delivery": str(delivery.pk),
            "X-MediaPortal-Signature": signature(webhook.secret, body),
        }
        outcome = post(webhook.url, body=body, headers=headers)
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, attempt=attempt, outcome=outcome, duration_ms=duration_ms)


def _record(delivery: WebhookDelivery, *, attempt: int, outcome: Outcome, duration_ms: int) -> str:
    now = timezone.now()
    fields = {"next_attempt_at": None}
    if outcome.delivered:
        fields.update(state=DeliveryState.DELIVERED, delivered_at=now)
    elif outcome.retry and attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        delay = retry_delay(attempt)
        fields["next_attempt_at"] = now + timedelta(seconds=delay)
    else:
        fields["state"] = DeliveryState.FAILED
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            at=now,
            status_code=outcome.status_code,
            error=outcome.error[:2000],
            duration_ms=duration_ms,
            response_excerpt=outcome.excerpt,
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if fields["next_attempt_at"] is not None:
            pk = str(delivery.pk)
            transaction.on_commit(lambda: delivery_queue(delivery_id=pk, attempt=attempt + 1, countdown=delay))
    if not outcome.delivered:
        WEBHOOK_FAILURES.labels(event=delivery.event).inc()
    state = fields.get("state", DeliveryState.PENDING)
    log.info(
        "webhook delivery %s attempt %d: %s → %s",
        delivery.pk,
        attempt,
        outcome.status_code or outcome.error,
        state,
    )
    return state


def deliveries_requeue(*, now=None, limit: int = 500) -> int:
    """Queue again the pending deliveries overdue by REQUEUE_GRACE: their task was lost (a
    broker down at the commit, a worker killed mid-attempt). Returns how many."""
    now = now or timezone.now()
    overdue = list(
        WebhookDelivery.objects.filter(
            state=DeliveryState.PENDING, next_attempt_at__lt=now - REQUEUE_GRACE
        ).values_list("pk", "attempts")[:limit]
    )
    for pk, attempts in overdue:
        if attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.PENDING, attempts=attempts).update(
                state=DeliveryState.FAILED, next_attempt_at=None
            )
            continue
        WebhookDelivery.objects.filter(pk=pk, state=DeliveryState.PENDING, attempts=attempts).update(
            next_attempt_at=now
        )
        delivery_queue(delivery_id=str(pk), attempt=attempts + 1)
    if overdue:
        log.info("webhook deliveries: %d overdue ones queued again", len(overdue))
    return len(overdue)


# --- HTTP ----------------------------------------------------------------------------------


def resolve(host: str, port: int) -> str:
    """The address to connect to for `host`: its first, once every one it resolves to passed
    the guard (unless WEBHOOK_ALLOW_PRIVATE_NETWORKS)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise Unreachable(f"Could not resolve {host}: {exc}") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise Unreachable(f"{host} resolves to no address.")
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        private = [str(address) for address in addresses if not address_is_public(address)]
        if private:
            raise Refused(
                f"Refused: {host} resolves to {', '.join(private)}, a private, loopback or otherwise non-public "
                "address (WEBHOOK_ALLOW_PRIVATE_NETWORKS is off)."
            )
    return str(addresses[0])


def post(url: str, *, body: bytes, headers: dict[str, str]) -> Outcome:
    """POST `body` to `url` through the pinned address; what came of it, never raising."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    try:
        address = resolve(parts.hostname, port)
    except Refused as exc:
        return Outcome(error=str(exc), retry=False)
    except Unreachable as exc:
        return Outcome(error=str(exc))
    options = {
        "port": port,
        "timeout": urllib3.Timeout(connect=CONNECT_TIMEOUT, total=TOTAL_TIMEOUT),
        "retries": False,
        "maxsize": 1,
    }
    if https:
        # The certificate is checked against the name, while the socket goes to the address.
        options.update(cert_reqs="CERT_REQUIRED", server_hostname=parts.hostname, assert_hostname=parts.hostname)
    pool_class = urllib3.HTTPSConnectionPool if https else urllib3.HTTPConnectionPool
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {**headers, "Host": parts.netloc.rpartition("@")[2]}
    try:
        with pool_class(address, **options) as pool:
            response = pool.urlopen(
                "POST",
                target,
                body=body,
                headers=headers,
                redirect=False,
                preload_content=False,
                assert_same_host=False,
            )
            try:
                excerpt = response.read(EXCERPT_BYTES)[:EXCERPT_BYTES].decode("utf-8", "replace")
            except urllib3.exceptions.HTTPError:
                excerpt = ""
            finally:
                response.release_conn()
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(error=f"{type(exc).__name__}: {exc}"[:2000])
    status = response.status
    error = "" if 200 <= status < 300 else f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")
    return Outcome(status_code=status, error=error, excerpt=excerpt)
