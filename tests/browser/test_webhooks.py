"""Team settings → Webhooks in a browser: add a webhook, copy its secret, send a test, and
watch the delivery (made by the stack's Celery worker) reach a real receiver, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import re

from playwright.sync_api import expect

from accounts.models import Role
from tests.analytics.webhook_receiver import Receiver
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory

SENT = 90_000  # ms: the stack's worker shares two cores with everything else


def test_an_owner_adds_a_webhook_and_sees_a_test_delivery_arrive(page, shot):
    membership = MembershipFactory(user=UserFactory(username="wendy"), role=Role.OWNER)
    tenant = membership.tenant
    receiver = Receiver().start()
    try:
        log_in(page, "wendy")
        page.goto(f"/t/{tenant.slug}/settings/")
        page.get_by_role("link", name="Webhooks").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Webhooks")
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("file.completed").check()
        page.get_by_role("button", name="Add webhook").click()
        secret_field = page.get_by_label("Secret", exact=True)
        expect(secret_field).to_have_attribute("readonly", "")
        secret = secret_field.input_value()
        assert len(secret) >= 40
        shot(page, "added")

        page.get_by_role("button", name=re.compile(r"^Send test")).click()
        # The deliveries table polls until the worker has sent it.
        expect(page.get_by_role("cell", name="delivered")).to_be_visible(timeout=SENT)
        expect(page.get_by_text(re.compile(r"HTTP 200"))).to_be_visible()
        shot(page, "delivered")
        (got,) = receiver.requests
        assert got.headers["X-MediaPortal-Event"] == "ping"
        expected = "sha256=" + hmac.new(secret.encode(), got.body, hashlib.sha256).hexdigest()
        assert got.headers["X-MediaPortal-Signature"] == expected
        assert json.loads(got.body)["tenant"] == tenant.slug
    finally:
        receiver.stop()
