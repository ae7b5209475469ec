"""Team settings → Webhooks (portal-webhooks): the list, adding one with its secret shown
once, inline errors, a test delivery, deleting, and the refusals, on the API's services."""

from __future__ import annotations

import re

import pytest
from celery import current_app
from django.test import Client

from accounts.models import Role
from analytics.models import Webhook, WebhookAttempt, WebhookDelivery
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


class Member:
    """A member's signed-in browser, CSRF enforced as in a real one."""

    def __init__(self, tenant, role=Role.OWNER):
        self.membership = MembershipFactory(tenant=tenant, role=role)
        self.web = Client(enforce_csrf_checks=True)
        assert self.web.login(username=self.membership.user.username, password=PASSWORD)
        self.base = f"/t/{tenant.slug}/settings/webhooks/"

    def post(self, url, data=None):
        self.web.get(f"/t/{self.membership.tenant.slug}/settings/")
        token = self.web.cookies["csrftoken"].value
        return self.web.post(url, {"csrfmiddlewaretoken": token, **(data or {})}, follow=True)


@pytest.fixture(autouse=True)
def sent(monkeypatch):
    calls = []
    monkeypatch.setattr(current_app, "send_task", lambda name, args=(), **kw: calls.append((name, list(args))))
    return calls


def secret_field(page: str) -> str | None:
    found = re.search(r'<input id="webhook-secret" type="text" readonly value="([^"]+)"', page)
    return found and found[1]


def test_settings_link_to_webhooks_for_owners_and_admins_only(tenant):
    owner, editor = Member(tenant), Member(tenant, Role.EDITOR)
    assert f'href="{owner.base}"' in owner.web.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert owner.base not in editor.web.get(f"/t/{tenant.slug}/settings/").content.decode()
    assert editor.web.get(editor.base).status_code == 403
    assert editor.web.get(editor.base + "status/").status_code == 403
    assert editor.post(editor.base, {"url": "https://example.com/h", "events": ["file.completed"]}).status_code == 403
    assert not Webhook.objects.exists()


def test_adding_a_webhook_shows_its_secret_once_then_masked(tenant):
    owner = Member(tenant)
    assert "No webhooks yet." in owner.web.get(owner.base).content.decode()
    added = owner.post(owner.base, {"url": "https://example.com/h", "events": ["file.completed", "share.opened"]})
    page = added.content.decode()
    webhook = Webhook.objects.get()
    assert added.status_code == 200 and secret_field(page) == webhook.secret
    assert webhook.events == ["file.completed", "share.opened"] and webhook.created_by == owner.membership.user
    again = owner.web.get(owner.base).content.decode()
    assert secret_field(again) is None and webhook.secret not in again
    assert "****" + webhook.secret[-4:] in again and "https://example.com/h" in again


def test_bad_input_is_an_inline_error_and_adds_nothing(tenant):
    owner = Member(tenant)
    refused = owner.post(owner.base, {"url": "http://127.0.0.1/h", "events": ["file.completed"]})
    assert refused.status_code == 400 and 'role="alert"' in refused.content.decode()
    assert "127.0.0.1 is a private" in refused.content.decode()
    no_events = owner.post(owner.base, {"url": "https://example.com/h"})
    assert no_events.status_code == 400 and "Choose at least one event." in no_events.content.decode()
    assert 'value="https://example.com/h"' in no_events.content.decode()  # what was typed stays
    assert not Webhook.objects.exists()


def test_send_test_lists_the_delivery_with_its_attempts_and_delete_removes_it(
    tenant, sent, django_capture_on_commit_callbacks
):
    owner = Member(tenant)
    owner.post(owner.base, {"url": "https://example.com/h", "events": ["file.completed"]})
    webhook = Webhook.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        tested = owner.post(owner.base + f"{webhook.pk}/test/")
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "ping" and sent == [("analytics.deliver_webhook", [str(delivery.pk), 1])]
    page = tested.content.decode()
    assert "Recent deliveries" in page and ">pending<" in page and 'hx-trigger="every 2s"' in page
    WebhookAttempt.objects.create(delivery=delivery, status_code=503, error="HTTP 503", duration_ms=12)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="failed")
    status = owner.web.get(owner.base + "status/").content.decode()
    assert "HTTP 503" in status and ">failed<" in status and "every 2s" not in status

    other = MembershipFactory(role=Role.OWNER)
    foreign = Client()
    foreign.force_login(other.user)
    assert foreign.post(f"/t/{other.tenant.slug}/settings/webhooks/{webhook.pk}/delete/").status_code == 404
    owner.post(owner.base + f"{webhook.pk}/delete/")
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()
