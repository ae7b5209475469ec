"""`/metrics`: Prometheus text, counters that move with the work, summed over processes, and
answered only to loopback clients and holders of METRICS_TOKEN."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from analytics.models import StorageSnapshot
from analytics.monitoring import queue_names
from files.models import File
from files.services.processing_run import file_process
from mediaportal import maintenance
from mediaportal.celery import app as celery_app
from tests.factories import TenantFactory
from tests.files.conftest import upload
from tests.files.processing import hostile
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.9"


def scrape(client, **extra) -> dict[tuple[str, tuple], float]:
    """The scrape as {(sample name, sorted labels): value}; fails unless it is a 200 that parses."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def test_an_upload_moves_the_upload_counters(client, editor, tenant):
    data = (CORPUS / "text" / "crazyones.txt").read_bytes()
    before = scrape(client)
    assert upload(editor, tenant, "crazy.txt", data).status_code == 201
    after = scrape(client)
    assert (
        value(after, "mediaportal_uploads_total", type="text")
        == value(before, "mediaportal_uploads_total", type="text") + 1
    )
    grown = value(after, "mediaportal_upload_bytes_total", type="text") - value(
        before, "mediaportal_upload_bytes_total", type="text"
    )
    assert grown == len(data)


def test_a_replayed_upload_is_not_counted_again(client, editor, tenant):
    data = b"once only\n"
    headers = {"HTTP_IDEMPOTENCY_KEY": "metrics-once-1"}
    before = value(scrape(client), "mediaportal_uploads_total")
    first = editor.post(f"/api/v1/tenants/{tenant.slug}/files/", {"file": _file("a.txt", data)}, **headers)
    again = editor.post(f"/api/v1/tenants/{tenant.slug}/files/", {"file": _file("a.txt", data)}, **headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert value(scrape(client), "mediaportal_uploads_total") == before + 1


def _file(name: str, data: bytes):
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def test_processing_is_timed_and_failures_counted_by_type_and_code(client, editor, tenant):
    text = upload(editor, tenant, "crazy.txt", (CORPUS / "text" / "crazyones.txt").read_bytes()).json()["id"]
    broken = upload(editor, tenant, "broken.pdf", hostile.pdf_without_pages()).json()["id"]
    before = scrape(client)
    assert file_process(file_id=text) == "completed"
    assert file_process(file_id=broken) == "failed"
    assert File.objects.get(pk=broken).error_code == "corrupt_document"
    after = scrape(client)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("mediaportal_processing_duration_seconds_count", type="text", outcome="completed") == 1
    assert moved("mediaportal_processing_duration_seconds_count", type="document", outcome="failed") == 1
    assert moved("mediaportal_processing_duration_seconds_sum", type="text", outcome="completed") > 0
    assert moved("mediaportal_processing_failures_total", type="document", code="corrupt_document") == 1
    assert moved("mediaportal_processing_failures_total") == 1


def test_requests_are_timed_by_view_method_and_status_class(client):
    before = scrape(client)
    client.get("/healthz")
    client.get("/no-such-page/")
    after = scrape(client)
    name = "mediaportal_http_request_duration_seconds_count"
    assert (
        value(after, name, view="healthz", method="GET", status="2xx")
        == value(before, name, view="healthz", method="GET", status="2xx") + 1
    )
    assert (
        value(after, name, view="unresolved", status="4xx") == value(before, name, view="unresolved", status="4xx") + 1
    )
    buckets = {dict(labels).get("le") for (n, labels) in after if n.endswith("_bucket") and "healthz" in str(labels)}
    assert "+Inf" in buckets and "0.005" in buckets


def test_counters_of_other_processes_are_summed_into_the_scrape(client):
    """Another process (as a Celery worker is) counts into the same folder; this one's scrape
    sees its increments, also after it exited."""
    before = value(scrape(client), "mediaportal_webhook_delivery_failures_total", event="file.completed")
    script = (
        "import django; django.setup();"
        "from mediaportal.metrics import WEBHOOK_FAILURES;"
        "WEBHOOK_FAILURES.labels(event='file.completed').inc(3)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mediaportal.settings"}
    subprocess.run([sys.executable, "-c", script], cwd=settings.BASE_DIR, env=env, check=True, timeout=120)
    after = value(scrape(client), "mediaportal_webhook_delivery_failures_total", event="file.completed")
    assert after == before + 3


@pytest.mark.parametrize(
    "loads",
    [
        # As `celery -A mediaportal worker` loads things: the app first, then Django, then the tasks.
        "import mediaportal, django; django.setup(); import files.tasks;",
        # As gunicorn's master reads --config=python:mediaportal.gunicorn_conf, without Django,
        # before it forks the web workers (which inherit its choice).
        "import mediaportal.gunicorn_conf;",
    ],
)
def test_the_metrics_folder_is_set_before_prometheus_client_is_imported(tmp_path, loads):
    script = (
        loads + "from prometheus_client import values; import os;"
        "print(values.ValueClass.__qualname__, os.environ['PROMETHEUS_MULTIPROC_DIR'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(DJANGO_SETTINGS_MODULE="mediaportal.settings", MEDIAPORTAL_VAR_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert out[0].startswith("MultiProcessValue") and out[1] == str(tmp_path / "metrics")
    assert (tmp_path / "metrics").is_dir()


def test_queue_depth_is_each_queues_length_in_the_broker(client):
    assert {"processing", "maintenance", "replication"} <= set(queue_names())
    with celery_app.connection_for_write() as conn:
        redis = conn.default_channel.client
        redis.rpush("replication", "metrics-test-placeholder")
        try:
            samples = scrape(client)
            depth = redis.llen("replication")
        finally:
            redis.lrem("replication", 0, "metrics-test-placeholder")
    assert {dict(labels)["queue"] for (n, labels) in samples if n == "mediaportal_queue_depth"} == set(queue_names())
    assert value(samples, "mediaportal_queue_depth", queue="replication") == depth >= 1


def test_archive_bytes_files_and_tenants_come_from_the_latest_snapshots(client, tenant):
    other = TenantFactory()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    for owner, (old, new) in ((tenant, (100, 700)), (other, (5, 50))):
        StorageSnapshot.objects.create(tenant=owner, hour=hour - timedelta(hours=1), archive_bytes=old, files=1)
        StorageSnapshot.objects.create(tenant=owner, hour=hour, archive_bytes=new, files=10)
    samples = scrape(client)
    assert value(samples, "mediaportal_archive_bytes") == 750
    assert value(samples, "mediaportal_files") == 20
    assert value(samples, "mediaportal_tenants") == 2


def test_replication_lag_is_the_oldest_unreplicated_blobs_age(client, editor, tenant):
    assert value(scrape(client), "mediaportal_replication_lag_seconds") == 0
    upload(editor, tenant, "a.txt", b"not yet in the replica\n")
    assert value(scrape(client), "mediaportal_replication_lag_seconds") > 0


# --- Who may scrape --------------------------------------------------------------------


def test_loopback_clients_may_scrape_and_others_get_a_404(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR=OUTSIDE)
    assert refused.status_code == 404 and b"mediaportal_" not in refused.content


def test_a_request_forwarded_by_a_local_proxy_is_not_loopback(client, settings):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_FORWARDED=f"for={OUTSIDE}").status_code == 404
    settings.TRUSTED_PROXY_COUNT = 1
    # Behind a trusted proxy the client is the hop it names; a request naming none came from it.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=OUTSIDE).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    spoofed = f"127.0.0.1, {OUTSIDE}"  # the proxy appended the real client after a forged entry
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=spoofed).status_code == 404


def test_the_token_lets_others_scrape(client, settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    assert scrape(client, REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
    for wrong in (
        "Bearer scrape-token-012345678",
        "Bearer ",
        "Token scrape-token-0123456789",
        "scrape-token-0123456789",
    ):
        assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION=wrong).status_code == 404, wrong
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 404


def test_without_a_token_configured_no_bearer_is_accepted(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR=OUTSIDE, HTTP_AUTHORIZATION="Bearer ").status_code == 404


def test_metrics_answer_during_maintenance_without_reading_the_database(client, django_assert_num_queries):
    maintenance.maintenance_begin(reason="restore")
    try:
        with django_assert_num_queries(0):
            samples = scrape(client)
        assert value(samples, "mediaportal_queue_depth") >= 0
        assert not any(n == "mediaportal_replication_lag_seconds" for (n, _labels) in samples)
        assert client.get("/metrics", REMOTE_ADDR=OUTSIDE).status_code == 503
    finally:
        maintenance.maintenance_end()


def test_metrics_take_no_post(client):
    assert client.post("/metrics").status_code == 405


def test_the_grafana_dashboard_shows_every_metric(client):
    dashboard = json.loads((Path(settings.BASE_DIR) / "docs" / "grafana" / "mediaportal.json").read_text())
    exprs = " ".join(target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", []))
    families = {family.name for family in text_string_to_metric_families(client.get("/metrics").content.decode())}
    ours = {name for name in families if name.startswith("mediaportal_")}
    assert len(ours) >= 11
    assert not [name for name in ours if name not in exprs]
