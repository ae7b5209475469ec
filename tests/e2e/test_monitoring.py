"""Monitoring end to end through `manage.py up`'s own web server and worker: /metrics sums what
the gunicorn and Celery processes counted, and an upload's request id is in the JSON log
lines of the web process and of the worker that processed the file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

from files.models import File
from tests.e2e.web import api_token, database_url, free_port
from tests.files.processing import hostile
from tests.helpers import CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TOKEN = "e2e-metrics-token-0123456789"


def _wait(predicate, timeout: float, what: str, output=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{output()[-6000:]}")


def _up(var: Path, port: int, log: Path) -> subprocess.Popen:
    """`up` on the test run's services (it starts none of its own), in a var folder of its own."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(
        MEDIAPORTAL_VAR_DIR=str(var),
        DATABASE_URL=database_url(),
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        METRICS_TOKEN=TOKEN,
        MODEL_CACHE_DIR=str(settings.MODEL_CACHE_DIR),
        MEDIAPORTAL_ADMIN_PASSWORD="e2e first login pass 42",
    )
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "up", f"--port={port}", "--web-workers=2", "--worker-concurrency=2"],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _scrape(url: str) -> dict[tuple[str, tuple], float]:
    response = requests.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200, response.text[:300]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: dict, name: str, **labels) -> float:
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= set(found))


def _json_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))  # a line that starts as JSON must be JSON whole
    return lines


def _upload(url: str, editor, tenant, name: str, data: bytes, headers: dict | None = None) -> requests.Response:
    session = requests.Session()
    session.headers["Authorization"] = f"Token {api_token(editor)}"
    files = {"file": (name, data)}
    answer = session.post(f"{url}/api/v1/tenants/{tenant.slug}/files/", files=files, headers=headers or {}, timeout=60)
    assert answer.status_code == 201, answer.text
    return answer


def _assert_counters_moved(before: dict, after: dict, text_bytes: int) -> None:
    """The gunicorn worker's counters (the uploads) and the Celery worker's (processing),
    summed by the web's scrape."""

    def moved(name, **labels):
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("mediaportal_uploads_total", type="text") == 1
    assert moved("mediaportal_upload_bytes_total", type="text") == text_bytes
    assert moved("mediaportal_uploads_total", type="document") == 1
    assert moved("mediaportal_processing_duration_seconds_count", type="text", outcome="completed") == 1
    assert moved("mediaportal_processing_failures_total", type="document", code="corrupt_document") == 1
    assert moved("mediaportal_http_request_duration_seconds_count", view="file-list", method="POST", status="2xx") == 2
    queues = {dict(labels)["queue"] for (n, labels) in after if n == "mediaportal_queue_depth"}
    assert {"processing", "maintenance", "replication"} <= queues


def _assert_logged_with(log: Path, request_id: str, *, path: str, file_id: str, text_bytes: int, output) -> None:
    """The request's id in the web's access line and in the worker's lines of its task."""

    def lines_with_id():
        return [line for line in _json_lines(log) if line.get("request_id") == request_id]

    def worker_done():
        return any(
            line["logger"] == "files.services.processing_run" and line["message"].endswith("completed")
            for line in lines_with_id()
        )

    _wait(worker_done, 30, "the worker's log line", output)
    mine = lines_with_id()
    access = [line for line in mine if line["logger"] == "gunicorn.access"]
    assert access and access[0]["method"] == "POST" and access[0]["status"] == 201, mine
    assert access[0]["path"] == path
    processing = [line for line in mine if line["logger"] == "files.services.processing_run"]
    assert [line["message"] for line in processing] == [
        f"processing {file_id} (text/plain, {text_bytes} bytes)",
        f"processing {file_id} completed",
    ]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in mine)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C: up stops its children
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_metrics_and_request_ids_through_real_web_and_worker_processes(editor, tenant, tmp_path):
    var, port, log = tmp_path / "var", free_port(), tmp_path / "up.log"
    (var / "metrics").mkdir(parents=True)
    (var / "metrics" / "counter_1.db").write_bytes(b"an earlier run's")  # emptied by `up`
    proc = _up(var, port, log)
    output = lambda: log.read_text(errors="replace")  # noqa: E731
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: "MediaPortal is running at" in output() or proc.poll() is not None, 120, "up", output)
        assert proc.poll() is None, output()[-6000:]
        assert not (var / "metrics" / "counter_1.db").exists()
        before = _scrape(url)
        # An upload with a request id of the client's; its processing runs in the worker.
        request_id = f"e2e-{uuid.uuid4().hex}"
        text = (CORPUS / "text" / "crazyones.txt").read_bytes()
        answer = _upload(url, editor, tenant, "crazy.txt", text, headers={"X-Request-ID": request_id})
        assert answer.headers["X-Request-ID"] == request_id
        file_id = answer.json()["id"]
        broken = _upload(url, editor, tenant, "broken.pdf", hostile.pdf_without_pages())
        assert broken.headers["X-Request-ID"] != request_id
        for done in (file_id, broken.json()["id"]):
            _wait(lambda d=done: File.objects.get(pk=d).status in ("completed", "failed"), 120, "processing", output)
        assert File.objects.get(pk=file_id).status == "completed"
        assert File.objects.get(pk=broken.json()["id"]).error_code == "corrupt_document"
        _assert_counters_moved(before, _scrape(url), len(text))
        # Through a proxy on this machine: only with the token.
        forwarded = {"X-Forwarded-For": "203.0.113.9"}
        assert requests.get(f"{url}/metrics", headers=forwarded, timeout=30).status_code == 404
        with_token = {**forwarded, "Authorization": f"Bearer {TOKEN}"}
        assert requests.get(f"{url}/metrics", headers=with_token, timeout=30).status_code == 200
        path = f"/api/v1/tenants/{tenant.slug}/files/"
        _assert_logged_with(log, request_id, path=path, file_id=file_id, text_bytes=len(text), output=output)
    finally:
        _stop(proc)
