"""The webhooks API (`webhooks/` and below): who may use it, what it accepts, and the
deliveries domain events make."""

from __future__ import annotations

import pytest
from celery import current_app

from accounts.models import Role
from analytics.models import Webhook, WebhookAttempt, WebhookDelivery
from analytics.services.webhooks import EVENTS, webhooks_on_event
from mediaportal.events import event_publish
from tests.factories import MembershipFactory
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

HOOK = {"url": "https://example.com/hooks/mp", "events": ["file.completed", "share.opened"]}


def t(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, dict]]:
    """Tasks queued by name: (name, args, options)."""
    calls: list[tuple[str, list, dict]] = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: calls.append((name, list(args), kw)))
    return calls


def create(client, tenant, **body):
    return client.post(t(tenant, "webhooks/"), {**HOOK, **body}, format="json")


def test_an_owner_creates_reads_changes_and_deletes_a_webhook_whose_secret_shows_once(owner, tenant):
    made = create(owner, tenant)
    assert made.status_code == 201, made.content
    hook = made.json()
    assert hook["url"] == HOOK["url"] and hook["events"] == ["file.completed", "share.opened"] and hook["active"]
    assert len(hook["secret"]) >= 40 and hook["created_by"]["username"] == owner.user.username
    assert Webhook.objects.get(pk=hook["id"]).secret == hook["secret"]

    read = owner.get(t(tenant, f"webhooks/{hook['id']}/")).json()
    assert read["secret"] == "****" + hook["secret"][-4:]
    assert [row["id"] for row in owner.get(t(tenant, "webhooks/")).json()["results"]] == [hook["id"]]
    assert hook["secret"] not in owner.get(t(tenant, "webhooks/")).content.decode()

    changed = owner.patch(
        t(tenant, f"webhooks/{hook['id']}/"), {"events": ["file.failed"], "active": False}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["events"] == ["file.failed"] and not changed.json()["active"]
    assert owner.delete(t(tenant, f"webhooks/{hook['id']}/")).status_code == 204
    assert not Webhook.objects.exists()


def test_a_given_secret_is_kept_and_an_admin_may_manage_webhooks(member, tenant):
    admin = member(Role.ADMIN)
    made = create(admin, tenant, secret="my-shared-secret")
    assert made.status_code == 201 and made.json()["secret"] == "my-shared-secret"
    assert admin.get(t(tenant, f"webhooks/{made.json()['id']}/")).json()["secret"] == "****cret"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "ftp://example.com/x"}, "invalid_url"),
        ({"url": "https:///nohost"}, "invalid_url"),
        ({"url": "not a url"}, "invalid_url"),
        ({"url": "http://example.com:99999/"}, "invalid_url"),
        ({"events": []}, "invalid_events"),
        ({"events": ["file.completed", "file.eaten"]}, "invalid_events"),
        ({"events": ["ping"]}, "invalid_events"),
        ({"secret": "short"}, "invalid_secret"),
        ({"url": "http://127.0.0.1:8000/hook"}, "webhook_private_target"),
        ({"url": "http://10.1.2.3/hook"}, "webhook_private_target"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "webhook_private_target"),
        ({"url": "http://[::1]/hook"}, "webhook_private_target"),
        ({"url": "http://[::ffff:127.0.0.1]/hook"}, "webhook_private_target"),
        ({"url": "http://0.0.0.0/hook"}, "webhook_private_target"),
        ({"url": "http://224.0.0.1/hook"}, "webhook_private_target"),
    ],
)
def test_bad_input_is_a_400_with_a_code_and_creates_nothing(owner, tenant, body, code):
    response = create(owner, tenant, **body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code and response.json()["detail"]
    assert not Webhook.objects.exists()


def test_bad_shapes_are_400_and_a_bad_patch_changes_nothing(owner, tenant):
    assert (
        owner.post(t(tenant, "webhooks/"), {"url": HOOK["url"], "events": "file.completed"}, format="json").status_code
        == 400
    )
    assert owner.post(t(tenant, "webhooks/"), {"events": ["file.completed"]}, format="json").status_code == 400
    hook = create(owner, tenant).json()
    refused = owner.patch(t(tenant, f"webhooks/{hook['id']}/"), {"url": "http://192.168.1.10/"}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "webhook_private_target"
    assert Webhook.objects.get(pk=hook["id"]).url == HOOK["url"]


def test_private_literal_targets_are_accepted_when_the_server_allows_private_networks(owner, tenant, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    assert create(owner, tenant, url="http://127.0.0.1:8000/hook").status_code == 201


def test_members_get_403_and_other_tenants_404(owner, tenant, member, outsider):
    hook = create(owner, tenant).json()
    for role in (Role.VIEWER, Role.EDITOR):
        client = member(role)
        for response in (
            client.get(t(tenant, "webhooks/")),
            create(client, tenant),
            client.get(t(tenant, f"webhooks/{hook['id']}/")),
            client.get(t(tenant, f"webhooks/{hook['id']}/deliveries/")),
            client.post(t(tenant, f"webhooks/{hook['id']}/ping/")),
        ):
            assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert outsider.get(t(tenant, "webhooks/")).status_code == 404
    attacker = MembershipFactory(role=Role.OWNER)
    other, other_tenant = client_for(attacker.user), attacker.tenant
    for response in (
        other.get(t(other_tenant, f"webhooks/{hook['id']}/")),
        other.patch(t(other_tenant, f"webhooks/{hook['id']}/"), {"active": False}, format="json"),
        other.delete(t(other_tenant, f"webhooks/{hook['id']}/")),
        other.post(t(other_tenant, f"webhooks/{hook['id']}/ping/")),
        other.get(t(tenant, f"webhooks/{hook['id']}/")),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Webhook.objects.get(pk=hook["id"]).active
    assert Webhook.objects.count() == 1 and not WebhookDelivery.objects.exists()


def test_an_event_makes_one_delivery_per_subscribed_active_webhook_queued_after_commit(
    owner, tenant, sent, django_capture_on_commit_callbacks, settings
):
    subscribed = create(owner, tenant).json()
    create(owner, tenant, events=["file.failed"])
    paused = create(owner, tenant).json()
    owner.patch(t(tenant, f"webhooks/{paused['id']}/"), {"active": False}, format="json")
    elsewhere = MembershipFactory(role=Role.OWNER)
    create(client_for(elsewhere.user), elsewhere.tenant)

    with django_capture_on_commit_callbacks(execute=True):
        event_publish(tenant_id=tenant.pk, event="file.completed", data={"file": "abc", "name": "a.jpg"})
    (delivery,) = WebhookDelivery.objects.all()
    assert str(delivery.webhook_id) == subscribed["id"] and delivery.event == "file.completed"
    assert delivery.payload == {
        "id": str(delivery.pk),
        "event": "file.completed",
        "created_at": delivery.created_at.isoformat(),
        "tenant": tenant.slug,
        "data": {"file": "abc", "name": "a.jpg"},
    }
    assert sent == [("analytics.deliver_webhook", [str(delivery.pk), 1], {"countdown": None})]
    assert settings.CELERY_TASK_ROUTES["analytics.deliver_webhook"] == {"queue": "webhooks"}


def test_an_event_of_a_tenant_without_webhooks_costs_one_query(tenant, django_assert_num_queries, sent):
    with django_assert_num_queries(1):
        webhooks_on_event(tenant_id=tenant.pk, event="share.opened", data={})
    with django_assert_num_queries(0):
        webhooks_on_event(tenant_id=tenant.pk, event="something.else", data={})
    assert not sent


def test_ping_queues_a_delivery_listed_with_its_attempts_and_redeliver_waits_for_it(owner, tenant, sent):
    hook = create(owner, tenant).json()
    ping = owner.post(t(tenant, f"webhooks/{hook['id']}/ping/"))
    assert ping.status_code == 202 and ping.json()["event"] == "ping" and ping.json()["state"] == "pending"
    listed = owner.get(t(tenant, f"webhooks/{hook['id']}/deliveries/")).json()["results"]
    assert [(d["id"], d["attempts"]) for d in listed] == [(ping.json()["id"], [])]
    assert listed[0]["payload"]["data"]["webhook"] == hook["id"]
    busy = owner.post(t(tenant, f"webhooks/{hook['id']}/deliveries/{ping.json()['id']}/redeliver/"))
    assert busy.status_code == 409 and busy.json()["code"] == "delivery_pending"

    WebhookDelivery.objects.filter(pk=ping.json()["id"]).update(state="failed")
    again = owner.post(t(tenant, f"webhooks/{hook['id']}/deliveries/{ping.json()['id']}/redeliver/"))
    assert again.status_code == 202 and again.json()["id"] != ping.json()["id"] and again.json()["event"] == "ping"
    assert WebhookDelivery.objects.count() == 2


def test_known_events_are_the_contracts():
    assert set(EVENTS) == {
        "file.completed",
        "file.failed",
        "file.archived",
        "file.restored",
        "share.opened",
        "share.downloaded",
        "quota.warning",
        "budget.warning",
    }


def test_webhook_admin_pages_render(admin_client, owner, tenant):
    webhook = Webhook.objects.get(pk=create(owner, tenant).json()["id"])
    owner.post(t(tenant, f"webhooks/{webhook.pk}/ping/"))
    delivery = WebhookDelivery.objects.get()
    WebhookAttempt.objects.create(delivery=delivery, status_code=500, error="HTTP 500")
    for model, pk in ((Webhook, webhook.pk), (WebhookDelivery, delivery.pk), (WebhookAttempt, None)):
        url = f"/admin/analytics/{model._meta.model_name}/"
        assert admin_client.get(url).status_code == 200 and admin_client.get(url + "?q=x").status_code == 200
        if pk:
            page = admin_client.get(f"{url}{pk}/change/")
            assert page.status_code == 200 and webhook.secret not in page.content.decode()
