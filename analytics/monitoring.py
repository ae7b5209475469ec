"""`/metrics`: the portal's Prometheus metrics, for loopback clients and holders of METRICS_TOKEN.

The counters and histograms of every web and worker process are summed from their files
(mediaportal.metrics, multiprocess mode); what describes the present (queue depths,
replication lag, archive bytes, totals) is read when the scrape asks, at a cost bounded by
the number of queues and tenants, never by the number of files.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from accounts.models import Tenant
from analytics.models import StorageSnapshot
from files.services.replication import replication_lag_seconds
from mediaportal.celery import app as celery_app
from mediaportal.http import client_ip
from mediaportal.maintenance import maintenance_state
from mediaportal.views import maintenance_unavailable, not_found

log = logging.getLogger(__name__)


def queue_names() -> list[str]:
    """Every queue a task is routed to, and the default one."""
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values() if "queue" in route}
    return sorted(routed | {settings.CELERY_TASK_DEFAULT_QUEUE})


def _queue_depths() -> GaugeMetricFamily:
    family = GaugeMetricFamily("mediaportal_queue_depth", "Tasks waiting in each Celery queue.", labels=["queue"])
    with celery_app.connection_for_read() as conn:
        # A Redis list per queue (the broker's socket timeouts bound a hung server).
        client = conn.default_channel.client
        for name in queue_names():
            family.add_metric([name], client.llen(name))
    return family


def _replication_lag() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "mediaportal_replication_lag_seconds",
        "Age of the oldest blob without a copy in the replica region (0: none).",
        value=replication_lag_seconds(),
    )


def _storage_totals() -> list[GaugeMetricFamily]:
    """Archive bytes and files from each tenant's latest storage snapshot (the hourly
    roll-up): one row per tenant, where summing the blobs would read a million rows."""
    latest = (
        StorageSnapshot.objects.order_by("tenant_id", "-hour")
        .distinct("tenant_id")
        .values_list("archive_bytes", "files")
    )
    archive_bytes = files = 0
    for archived, counted in latest:
        archive_bytes += archived
        files += counted
    tenants = Tenant.objects.aggregate(n=Count("pk"))["n"]
    return [
        GaugeMetricFamily(
            "mediaportal_archive_bytes",
            "Bytes of blobs in the archive tier, as of each tenant's latest storage snapshot.",
            value=archive_bytes,
        ),
        GaugeMetricFamily("mediaportal_files", "Files, as of each tenant's latest storage snapshot.", value=files),
        GaugeMetricFamily("mediaportal_tenants", "Tenants.", value=tenants),
    ]


class PresentCollector:
    """Values read at scrape time. A source that fails leaves its metrics out (and says so
    in the log): the scrape still answers with the rest."""

    def describe(self) -> list:
        return []  # nothing to check at registration: collected only when scraped

    def collect(self):
        sources = [_queue_depths]
        # During a restore nothing may read the database (mediaportal.maintenance).
        if maintenance_state() is None:
            sources += [_replication_lag, _storage_totals]
        for source in sources:
            try:
                found = source()
            except Exception as exc:  # noqa: BLE001 - any failing source only loses its own metrics
                log.warning("metrics: %s failed: %s: %s", source.__name__, type(exc).__name__, exc)
                continue
            yield from found if isinstance(found, list) else [found]


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def from_loopback(request) -> bool:
    """Whether the client is on this machine. The address is taken as login takes it
    (mediaportal.http.client_ip: X-Forwarded-For believed for TRUSTED_PROXY_COUNT hops). With
    no trusted proxy, a request carrying a forwarding header came through a proxy on this
    machine on behalf of someone else: not loopback. With trusted proxies, the request must
    name its client in as many hops as there are proxies; otherwise REMOTE_ADDR is a proxy."""
    hops = settings.TRUSTED_PROXY_COUNT
    forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if hops == 0 and (forwarded or "HTTP_FORWARDED" in request.META or "HTTP_X_REAL_IP" in request.META):
        return False
    if hops and len(forwarded) < hops:
        return False
    return _is_loopback(client_ip(request))


def token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), expected.encode())


@require_GET
@never_cache
def metrics(request):
    """Prometheus text. Anyone else gets what an unknown address gets (404), so the endpoint
    is not advertised; the token is compared in constant time."""
    if not (from_loopback(request) or token_matches(request)):
        if (state := maintenance_state()) is not None:
            return maintenance_unavailable(request, state=state)
        return not_found(request)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(PresentCollector())
    # The classic text format (0.0.4): what every Prometheus version and agent reads.
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4)
