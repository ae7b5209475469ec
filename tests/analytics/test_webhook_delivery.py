"""Sending webhook deliveries to a real HTTP server: the signed body, retries with backoff,
the private-network guard at delivery time, and the file events files publish."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

import analytics.tasks  # noqa: F401 - registers the tasks run below
from accounts.models import Role
from analytics.models import Webhook, WebhookAttempt, WebhookDelivery
from analytics.services import webhook_delivery
from analytics.services.webhooks import address_is_public, webhook_create
from files.models import File, FileVersion
from files.services.lifecycle import archive_sweep
from files.services.processing_run import file_process
from mediaportal.celery import app
from mediaportal.events import event_publish
from tests.analytics.webhook_receiver import Receiver
from tests.conftest import run_queued
from tests.factories import MembershipFactory
from tests.helpers import CORPUS
from tests.test_metrics import scrape, value

pytestmark = pytest.mark.django_db

PHOTO = CORPUS / "photo_exif" / "Canon_40D.jpg"


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def private_ok(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, dict]]:
    calls: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: calls.append((name, list(args), kw)))
    return calls


@pytest.fixture
def admin(tenant):
    return MembershipFactory(tenant=tenant, role=Role.OWNER)


def hook(admin, url, events=("file.completed",), secret="s3cret-for-tests") -> Webhook:
    return webhook_create(membership=admin, url=url, events=list(events), secret=secret)


def run_deliveries(sent, capture) -> list[str]:
    """Run the queued delivery tasks as a worker would; the states they return."""
    states = []
    while batch := [item for item in sent if item[0] == "analytics.deliver_webhook"]:
        for item in batch:
            sent.remove(item)
            with capture(execute=True):
                states.append(app.tasks[item[0]].apply(args=item[1]).get())
    return states


def test_a_delivery_arrives_signed_with_its_headers(
    admin, tenant, receiver, private_ok, sent, django_capture_on_commit_callbacks
):
    webhook = hook(admin, receiver.url())
    with django_capture_on_commit_callbacks(execute=True):
        event_publish(tenant_id=tenant.pk, event="file.completed", data={"file": "f1", "name": "ä.jpg"})
    assert run_deliveries(sent, django_capture_on_commit_callbacks) == ["delivered"]

    (got,) = receiver.requests
    delivery = WebhookDelivery.objects.get()
    expected = "sha256=" + hmac.new(b"s3cret-for-tests", got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["X-MediaPortal-Signature"], expected)
    assert got.path == "/hook" and got.headers["Content-Type"] == "application/json"
    assert got.headers["X-MediaPortal-Event"] == "file.completed"
    assert got.headers["X-MediaPortal-Delivery"] == str(delivery.pk)
    assert got.headers["User-Agent"] == "MediaPortal-Webhooks/1"
    assert got.headers["Host"] == f"127.0.0.1:{receiver.port}"
    body = json.loads(got.body)
    assert body == {
        "id": str(delivery.pk),
        "event": "file.completed",
        "created_at": delivery.created_at.isoformat(),
        "tenant": tenant.slug,
        "data": {"file": "f1", "name": "ä.jpg"},
    }
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("delivered", 1, None)
    assert delivery.delivered_at is not None
    (attempt,) = WebhookAttempt.objects.all()
    assert (attempt.status_code, attempt.error, attempt.response_excerpt) == (200, "", "ok")
    assert webhook.pk == delivery.webhook_id


def test_a_failing_receiver_is_retried_with_growing_waits_then_the_delivery_fails(
    client, admin, tenant, receiver, private_ok, sent, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    receiver.status = 500
    hook(admin, receiver.url())
    failures_before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        event_publish(tenant_id=tenant.pk, event="file.completed", data={})
    waits, states = [], []
    while sent:
        name, args, options = sent.pop(0)
        waits.append(options["countdown"])
        delivery = WebhookDelivery.objects.get()
        if options["countdown"]:
            # What the worker would wait for: the next attempt is due then.
            expected_due = timezone.now() + timedelta(seconds=options["countdown"])
            assert abs((delivery.next_attempt_at - expected_due).total_seconds()) < 5
        with django_capture_on_commit_callbacks(execute=True):
            states.append(app.tasks[name].apply(args=args).get())
    assert waits == [None, 30, 120, 480]
    assert states == ["pending", "pending", "pending", "failed"]
    assert len(receiver.requests) == 4
    assert len({r.headers["X-MediaPortal-Signature"] for r in receiver.requests}) == 1  # the same bytes each time
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    attempts = list(WebhookAttempt.objects.order_by("at"))
    assert [a.status_code for a in attempts] == [500] * 4 and all(a.error == "HTTP 500" for a in attempts)
    assert len(attempts[0].response_excerpt) == 1024  # the first KB of a 3 KB answer
    # Each failed attempt is counted in /metrics, by event.
    name = "mediaportal_webhook_delivery_failures_total"
    failures = value(scrape(client), name, event="file.completed")
    assert failures == value(failures_before, name, event="file.completed") + 4


def test_a_task_delivered_twice_makes_one_attempt(admin, tenant, receiver, private_ok, sent):
    hook(admin, receiver.url())
    delivery_id = str(
        WebhookDelivery.objects.create(webhook=Webhook.objects.get(), event="file.completed", payload={"a": 1}).pk
    )
    assert webhook_delivery.delivery_attempt(delivery_id=delivery_id, attempt=1) == "delivered"
    assert webhook_delivery.delivery_attempt(delivery_id=delivery_id, attempt=1) == "skipped"
    assert len(receiver.requests) == 1 and WebhookAttempt.objects.count() == 1


def test_redirects_are_not_followed(admin, tenant, receiver, private_ok):
    receiver.status, receiver.location = 302, "http://169.254.169.254/latest/"
    webhook = hook(admin, receiver.url())
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="ping", payload={})
    assert webhook_delivery.delivery_attempt(delivery_id=str(delivery.pk), attempt=1) == "pending"
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code == 302 and "redirects are not followed" in attempt.error
    assert len(receiver.requests) == 1


def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    admin, tenant, receiver, sent, django_capture_on_commit_callbacks
):
    webhook = hook(admin, receiver.url(host="localhost"))  # a name: accepted when created
    with django_capture_on_commit_callbacks(execute=True):
        event_publish(tenant_id=tenant.pk, event="file.completed", data={})
    assert run_deliveries(sent, django_capture_on_commit_callbacks) == ["failed"]
    assert receiver.requests == [] and not sent  # refused, and not tried again
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None
    assert "Refused: localhost resolves to 127.0.0.1" in attempt.error
    assert "WEBHOOK_ALLOW_PRIVATE_NETWORKS" in attempt.error
    assert WebhookDelivery.objects.get().state == "failed" and webhook.deliveries.count() == 1


def test_resolution_pins_the_address_checked(monkeypatch, settings):
    """The address the guard passed is the one connected to: a second lookup never happens."""
    answers = iter([[(2, 1, 6, "", ("93.184.216.34", 443))], [(2, 1, 6, "", ("127.0.0.1", 443))]])
    monkeypatch.setattr(webhook_delivery.socket, "getaddrinfo", lambda *a, **kw: next(answers))
    assert webhook_delivery.resolve("rebinding.example", 443) == "93.184.216.34"
    with pytest.raises(webhook_delivery.Refused):
        webhook_delivery.resolve("rebinding.example", 443)
    mixed = [(2, 1, 6, "", ("93.184.216.34", 443)), (10, 1, 6, "", ("::ffff:10.0.0.1", 443, 0, 0))]
    monkeypatch.setattr(webhook_delivery.socket, "getaddrinfo", lambda *a, **kw: mixed)
    with pytest.raises(webhook_delivery.Refused, match="::ffff:a00:1"):
        webhook_delivery.resolve("mixed.example", 443)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("2002:a9fe:a9fe::", False),  # 6to4 around the cloud metadata address
        ("64:ff9b::7f00:1", False),  # NAT64 around 127.0.0.1
        ("fec0::1", False),  # site-local
        ("::ffff:10.0.0.1", False),
        ("2002:808:808::", True),  # 6to4 around a public address
        ("64:ff9b::808:808", True),
        ("2606:4700::1111", True),
        ("93.184.216.34", True),
    ],
)
def test_ipv4_carried_in_ipv6_is_judged_as_itself(address, public):
    assert address_is_public(ipaddress.ip_address(address)) is public


def test_lost_deliveries_are_queued_again(admin, tenant, sent):
    webhook = hook(admin, "https://example.com/hook")
    late = timezone.now() - timedelta(hours=1)
    lost = WebhookDelivery.objects.create(webhook=webhook, event="ping", payload={}, next_attempt_at=late, attempts=2)
    WebhookDelivery.objects.create(webhook=webhook, event="ping", payload={}, next_attempt_at=timezone.now())
    assert webhook_delivery.deliveries_requeue() == 1
    assert sent == [("analytics.deliver_webhook", [str(lost.pk), 3], {"countdown": None})]


def test_the_connection_goes_to_the_resolved_address_with_the_name_as_host(
    admin, tenant, receiver, private_ok, monkeypatch
):
    """A name only our resolution knows: reached at all means the socket used that address."""
    looked_up = []

    def getaddrinfo(host, port, *args, **kwargs):
        looked_up.append(host)
        return [(2, 1, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(webhook_delivery.socket, "getaddrinfo", getaddrinfo)
    webhook = hook(admin, f"http://hooks.invalid:{receiver.port}/in?x=1")
    delivery = WebhookDelivery.objects.create(webhook=webhook, event="ping", payload={"p": 1})
    assert webhook_delivery.delivery_attempt(delivery_id=str(delivery.pk), attempt=1) == "delivered"
    (got,) = receiver.requests
    # The name is looked up once; the connection only "resolves" the literal address.
    assert looked_up[0] == "hooks.invalid" and set(looked_up[1:]) <= {"127.0.0.1"}
    assert got.headers["Host"] == f"hooks.invalid:{receiver.port}" and got.path == "/in?x=1"


# --- The file events, published by files ---------------------------------------------------


def test_file_completed_is_delivered_after_a_real_upload_and_processing(
    admin, tenant, uploaded, queued, receiver, private_ok, django_capture_on_commit_callbacks
):
    hook(admin, receiver.url(), events=["file.completed", "file.failed"])
    file = uploaded("camera.jpg", PHOTO.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued(queued, "files.process_file") == ["completed"]
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued(queued, "analytics.deliver_webhook") == ["delivered"]
    (got,) = receiver.requests
    body = json.loads(got.body)
    assert body["event"] == "file.completed" and got.headers["X-MediaPortal-Event"] == "file.completed"
    assert body["data"] == {
        "file": file["id"],
        "name": "camera.jpg",
        "folder": "/",
        "content_type": "image/jpeg",
        "size": PHOTO.stat().st_size,
    }


def test_file_failed_carries_its_error_code(admin, tenant, uploaded, queued, django_capture_on_commit_callbacks):
    hook(admin, "https://example.com/hook", events=["file.failed"])
    uploaded("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")
    with django_capture_on_commit_callbacks(execute=True):
        assert run_queued(queued, "files.process_file") == ["failed"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "file.failed" and delivery.payload["data"]["error_code"]
    assert delivery.payload["data"]["error_code"] == File.objects.get().error_code


def test_restores_from_the_trash_and_the_archive_and_archiving_are_told(
    admin, tenant, editor, uploaded, sent, django_capture_on_commit_callbacks
):
    hook(admin, "https://example.com/hook", events=["file.archived", "file.restored"])
    base = f"/api/v1/tenants/{tenant.slug}/"
    file = uploaded("old.jpg", PHOTO.read_bytes())
    assert file_process(file_id=file["id"]) == "completed"
    with django_capture_on_commit_callbacks(execute=True):
        editor.delete(base + f"files/{file['id']}/")
        assert editor.post(base + f"trash/{file['id']}/restore/").status_code == 200
    File.objects.filter(pk=file["id"]).update(created_at=timezone.now() - timedelta(days=100), last_accessed_at=None)
    FileVersion.objects.filter(file_id=file["id"]).update(created_at=timezone.now() - timedelta(days=100))
    with django_capture_on_commit_callbacks(execute=True):
        assert archive_sweep(tenant=tenant).files == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert editor.post(base + f"files/{file['id']}/retrieve/").status_code == 202
    told = [(d.event, d.payload["data"].get("from")) for d in WebhookDelivery.objects.order_by("created_at")]
    assert told == [("file.restored", "trash"), ("file.archived", None), ("file.restored", "archive")]
    assert all(d.payload["data"]["file"] == file["id"] for d in WebhookDelivery.objects.all())
