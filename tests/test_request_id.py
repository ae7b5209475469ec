"""Request ids: taken from `X-Request-ID` when sane or made, returned on every answer, written
into the log lines of the request and carried into the tasks it queues."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import path

from mediaportal import maintenance
from mediaportal.celery import REQUEST_ID_HEADER, app
from mediaportal.logs import JsonLogFormatter, PlainLogFormatter, RedactCapabilities
from mediaportal.request_id import request_id_get, request_id_set

pytestmark = pytest.mark.django_db

NEW_ID = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("tests.request_id")


def _logs_a_line(request):
    log.warning("inside the view, for /s/%s", "secret-share-token")
    return HttpResponse("ok")


def _breaks(request):
    raise RuntimeError("a bug")


def _gone(request):
    return HttpResponse("gone", status=404)


urlpatterns = [path("logs/", _logs_a_line), path("breaks/", _breaks), path("gone/", _gone)]


@pytest.fixture
def json_lines():
    """The JSON lines the root logger's records make, as the console handler formats them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactCapabilities())
    logging.getLogger().addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger().removeHandler(handler)


@pytest.mark.parametrize("sane", ["abc", "trace-01.A_b", "x" * 128, "0af7651916cd43dd8448eb211c80319c"])
def test_a_sane_id_is_echoed(client, sane):
    assert client.get("/healthz", HTTP_X_REQUEST_ID=sane)["X-Request-ID"] == sane


@pytest.mark.parametrize(
    "insane", ["x" * 129, "y" * 500, "abc\ndef", "abc def", "a;b", "", "ümlaut", "a\r\nSet-Cookie: x"]
)
def test_an_insane_id_is_replaced_by_a_new_one(client, insane):
    answered = client.get("/healthz", HTTP_X_REQUEST_ID=insane)["X-Request-ID"]
    assert NEW_ID.fullmatch(answered), answered


def test_without_an_id_each_request_gets_its_own(client):
    first, second = client.get("/healthz")["X-Request-ID"], client.get("/healthz")["X-Request-ID"]
    assert NEW_ID.fullmatch(first) and NEW_ID.fullmatch(second) and first != second


def test_error_answers_carry_the_id_too(client, editor, tenant):
    assert client.get("/no-such-page/", HTTP_X_REQUEST_ID="r-404")["X-Request-ID"] == "r-404"
    api_404 = editor.get(
        f"/api/v1/tenants/{tenant.slug}/files/00000000-0000-0000-0000-000000000000/", HTTP_X_REQUEST_ID="r-api"
    )
    assert api_404.status_code == 404 and api_404["X-Request-ID"] == "r-api"
    nul = client.get("/login/?q=%00", HTTP_X_REQUEST_ID="r-400")
    assert nul.status_code == 400 and nul["X-Request-ID"] == "r-400"


@pytest.mark.urls("tests.test_request_id")
def test_a_500_carries_the_id_and_its_log_line_too(json_lines):
    answer = Client(raise_request_exception=False).get("/breaks/", HTTP_X_REQUEST_ID="r-500")
    assert answer.status_code == 500 and answer["X-Request-ID"] == "r-500"
    errors = [line for line in json_lines() if line["logger"] == "django.request"]
    assert errors and errors[-1]["request_id"] == "r-500" and errors[-1]["level"] == "ERROR"


def test_a_maintenance_503_carries_the_id(client):
    maintenance.maintenance_begin(reason="restore")
    try:
        answer = client.get("/login/", HTTP_X_REQUEST_ID="r-503")
    finally:
        maintenance.maintenance_end()
    assert answer.status_code == 503 and answer["X-Request-ID"] == "r-503"


@pytest.mark.urls("tests.test_request_id")
def test_log_lines_of_a_request_are_json_with_its_id_and_redacted(client, json_lines):
    client.get("/logs/", HTTP_X_REQUEST_ID="r-log")
    client.get("/gone/", HTTP_X_REQUEST_ID="r-missing")  # Django logs a 404 after the middleware
    lines = json_lines()
    inside = next(line for line in lines if line["logger"] == "tests.request_id")
    assert set(inside) >= {"time", "level", "logger", "message", "request_id"}
    assert inside["request_id"] == "r-log" and inside["level"] == "WARNING"
    assert inside["message"] == "inside the view, for /s/[redacted]"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", inside["time"])
    not_found = next(line for line in lines if line["logger"] == "django.request")
    assert not_found["request_id"] == "r-missing"
    # Once the answer is done, lines are nobody's.
    assert request_id_get() is None
    log.warning("between requests")
    assert "request_id" not in json_lines()[-1]


def test_plain_lines_show_the_id_of_their_request():
    record = logging.LogRecord("tests.request_id", logging.INFO, __file__, 1, "hello", None, None)
    request_id_set("r-plain")
    try:
        assert PlainLogFormatter().format(record).endswith(" INFO tests.request_id [r-plain] hello")
    finally:
        request_id_set(None)
    assert PlainLogFormatter().format(record).endswith(" INFO tests.request_id hello")


def test_the_configured_console_writes_json():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, RedactCapabilities) for f in h.filters))
    assert isinstance(handler.formatter, JsonLogFormatter)


@app.task(name="tests.request_id_seen")
def _request_id_seen() -> str | None:
    return request_id_get()


def test_a_task_queued_during_a_request_carries_its_id_to_the_worker():
    queue = "tests-request-id"
    request_id_set("r-task")
    try:
        app.send_task("tests.request_id_seen", queue=queue)
    finally:
        request_id_set(None)
    with app.connection_for_write() as conn:
        redis = conn.default_channel.client
        message = json.loads(redis.lpop(queue))
        redis.delete(queue)
    assert message["headers"][REQUEST_ID_HEADER] == "r-task"
    # The worker side: the task runs with the id of its message, and nothing stays bound after it.
    assert _request_id_seen.apply(headers=message["headers"]).get() == "r-task"
    assert request_id_get() is None
    assert _request_id_seen.apply(headers={REQUEST_ID_HEADER: "bad id\n"}).get() is None
