"""Liveness and readiness endpoints for load balancers and orchestration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.core.cache import cache
from django.core.files.storage import storages
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from mediaportal.celery import app as celery_app
from mediaportal.maintenance import maintenance_state

log = logging.getLogger(__name__)


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    cache.set("readyz", "1", timeout=10)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache round-trip failed")


def _check_s3() -> None:
    storage = storages["primary"]
    storage.probe_client.head_bucket(Bucket=storage.bucket_name)  # one short attempt (files.storage)


def _check_broker() -> None:
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {
    "database": _check_database,
    "redis": _check_redis,
    "s3": _check_s3,
    "broker": _check_broker,
}


@require_GET
@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request):
    services: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
            services[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - any failure makes the service not ready
            # The reason goes to the log only: the probe answers anyone, and an exception's text
            # can name hosts, sockets, buckets and users.
            log.warning("readiness: %s is failing: %s: %s", name, type(exc).__name__, exc)
            services[name] = {"ok": False}
        services[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    failing = [name for name, result in services.items() if not result["ok"]]
    body = {"status": "ok" if not failing else "unavailable", "failing": failing, "services": services}
    # Every service may be up while the site is in maintenance (a restore is running): not
    # ready, and the reason ("restore") names nothing about the deployment.
    if (maintenance := maintenance_state()) is not None:
        failing.append("maintenance")
        body.update(status="unavailable", maintenance={"reason": maintenance.get("reason", "")})
    return JsonResponse(body, status=200 if not failing else 503)
