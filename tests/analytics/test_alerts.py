"""Quota (80 %, 95 %) and budget (80 %, 100 %) alerts: raised once per crossing, cleared when
the ratio drops back, mailed to the owners, published for webhooks, listed, and shown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import analytics.tasks  # noqa: F401 - registers analytics.check_alerts
from accounts.models import ActivityEvent, Role, Tenant, TenantUsage
from analytics.models import Alert, StorageSnapshot
from analytics.services.alerts import alerts_check
from mediaportal.celery import app
from mediaportal.events import domain_event
from tests.accounts.test_portal_account import signed_in
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

GIB = 2**30


@pytest.fixture
def team(tenant):
    """The tenant with two owners, an admin and an editor, each with an address."""
    people = {}
    for name, role in [("olga", Role.OWNER), ("omar", Role.OWNER), ("ada", Role.ADMIN), ("ed", Role.EDITOR)]:
        people[name] = MembershipFactory(tenant=tenant, role=role, user=UserFactory(username=name))
    return people


@pytest.fixture
def published():
    """The domain events sent, as (tenant_id, event, data)."""
    events = []

    def receiver(sender, tenant_id, event, data, **kwargs):
        events.append((tenant_id, event, data))

    domain_event.connect(receiver)
    yield events
    domain_event.disconnect(receiver)


@pytest.fixture
def check(tenant, django_capture_on_commit_callbacks):
    """Run the check as the task does, its after-commit work (mail, events) included."""

    def run(**quota_or_budget) -> list[Alert]:
        Tenant.objects.filter(pk=tenant.pk).update(**quota_or_budget)
        with django_capture_on_commit_callbacks(execute=True):
            return alerts_check(tenant=tenant)

    return run


def open_alerts(tenant) -> list[tuple[str, float]]:
    return sorted(Alert.objects.filter(tenant=tenant, cleared_at__isnull=True).values_list("kind", "threshold"))


def test_quota_alerts_fire_once_per_crossing(tenant, team, uploaded, check, published):
    uploaded("report.bin", b"x" * 1000)  # the real path: 1,000 bytes counted by the quota triggers

    [alert] = check(quota_bytes=1200)  # 83 %
    assert (alert.kind, alert.threshold, alert.value) == ("quota", 0.8, 0.8333)
    assert alert.data == {"used_bytes": 1000, "quota_bytes": 1200}
    assert check(quota_bytes=1200) == []  # still above: nothing again
    assert len(mail.outbox) == 2 and len(published) == 1  # one message per owner

    [high] = check(quota_bytes=1050)  # 95.2 %: the 95 % level, the 80 % one stays open
    assert (high.threshold, high.value) == (0.95, 0.9524)
    assert open_alerts(tenant) == [("quota", 0.8), ("quota", 0.95)]

    assert check(quota_bytes=2000) == []  # 50 %: both cleared
    assert open_alerts(tenant) == []
    assert Alert.objects.filter(tenant=tenant, cleared_at__isnull=False).count() == 2

    [again] = check(quota_bytes=1200)  # crossed again: a second 80 % alert
    assert again.pk != alert.pk and again.threshold == 0.8
    assert Alert.objects.filter(tenant=tenant, threshold=0.8).count() == 2
    assert len(mail.outbox) == 6 and [event for _, event, _ in published] == ["quota.warning"] * 3
    verbs = list(ActivityEvent.objects.filter(tenant=tenant, verb__startswith="alert.").values_list("verb", flat=True))
    assert sorted(verbs) == ["alert.cleared"] * 2 + ["alert.raised"] * 3


def snapshot(tenant, **sizes):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    StorageSnapshot.objects.update_or_create(tenant=tenant, hour=hour, defaults=sizes)


def test_budget_alerts_at_80_and_100_percent(tenant, team, check, published, settings):
    settings.STORAGE_PRICE_HOT_GB_MONTH = Decimal("1.00")
    snapshot(tenant, hot_bytes=8 * GIB, rendition_bytes=GIB // 2)  # 8.50 a month

    assert check(monthly_budget=None) == []  # no budget: no ratio
    assert check(monthly_budget=Decimal("10.63")) == []  # 79.96 %: not yet
    [alert] = check(monthly_budget=Decimal("10.00"))  # 85 %
    assert (alert.kind, alert.threshold, alert.value) == ("budget", 0.8, 0.85)
    assert alert.data == {"currency": "USD", "estimated_monthly_cost": 8.5, "monthly_budget": 10.0}
    assert check(monthly_budget=Decimal("10.00")) == []
    [over] = check(monthly_budget=Decimal("8.50"))  # exactly the budget: 100 %
    assert (over.threshold, over.value) == (1.0, 1.0)
    assert open_alerts(tenant) == [("budget", 0.8), ("budget", 1.0)]

    snapshot(tenant, hot_bytes=GIB)  # files deleted: 1.00 a month, 11.8 %
    assert check() == [] and open_alerts(tenant) == []
    snapshot(tenant, hot_bytes=9 * GIB)
    assert [a.threshold for a in check()] == [0.8, 1.0]
    assert check(monthly_budget=None) == [] and open_alerts(tenant) == []  # budget removed: cleared
    assert [event for _, event, _ in published] == ["budget.warning"] * 4


def test_the_mail_goes_to_the_owners_only_and_says_what_to_do(tenant, team, check, settings):
    settings.SITE_URL = "https://media.example.com"
    TenantUsage.objects.create(tenant=tenant, bytes=96 * GIB // 10)
    check(quota_bytes=10 * GIB)  # 96 %: both quota levels at once
    assert sorted(m.to[0] for m in mail.outbox) == ["olga@example.com"] * 2 + ["omar@example.com"] * 2
    assert all(len(m.to) == 1 and not m.cc and not m.bcc for m in mail.outbox)  # owners never see each other
    message = next(m for m in mail.outbox if "96 %" in m.subject and "95 %" in m.body)
    assert message.subject == f"{tenant.name}: 96 % of the storage quota used"
    assert "(9.6 GB of 10.0 GB), past the 95 % warning level" in message.body.replace("\xa0", " ")
    assert "uploads are refused" in message.body and "empty the trash" in message.body
    assert f"https://media.example.com/t/{tenant.slug}/settings/" in message.body


def test_budget_mail_and_event_carry_the_figures(tenant, team, check, published, settings):
    settings.STORAGE_PRICE_HOT_GB_MONTH = Decimal("2.00")
    snapshot(tenant, hot_bytes=5 * GIB)  # 10.00 a month
    raised = check(monthly_budget=Decimal("10.00"), quota_bytes=0)  # no quota: no quota ratio
    assert [(a.kind, a.threshold) for a in raised] == [("budget", 0.8), ("budget", 1.0)]
    [(tenant_id, event, data)] = [p for p in published if p[2]["threshold"] == 1.0]
    assert tenant_id == tenant.pk and event == "budget.warning"
    assert (
        type(data["kind"]) is str
        and data["kind"] == "budget"
        and data["value"] == 1.0
        and data["estimated_monthly_cost"] == 10.0
    )
    assert data["monthly_budget"] == 10.0 and data["currency"] == "USD" and data["id"]
    bodies = [m.body for m in mail.outbox if "100 %" in m.body]
    assert bodies and "USD 10.00, 100 % of its monthly budget of USD 10.00" in bodies[0]
    assert "raise the monthly budget" in bodies[0]


def test_the_task_checks_every_tenant(tenant, team, django_capture_on_commit_callbacks):
    other = MembershipFactory(role=Role.OWNER)
    for t in (tenant, other.tenant):
        TenantUsage.objects.create(tenant=t, bytes=900)
        Tenant.objects.filter(pk=t.pk).update(quota_bytes=1000)
    with django_capture_on_commit_callbacks(execute=True):
        assert app.tasks["analytics.check_alerts"].apply().get() == 2
        assert app.tasks["analytics.check_alerts"].apply().get() == 0
    assert Alert.objects.count() == 2 and len(mail.outbox) == 3


# --- API ----------------------------------------------------------------------------------


def test_alerts_are_listed_for_owners_and_admins(tenant, team, check, member, outsider):
    TenantUsage.objects.create(tenant=tenant, bytes=850)
    [first] = check(quota_bytes=1000)
    check(quota_bytes=10_000)  # cleared
    [second] = check(quota_bytes=1000)
    owner = member(Role.OWNER)
    body = owner.get(f"/api/v1/tenants/{tenant.slug}/alerts/").json()
    assert [a["id"] for a in body["results"]] == [str(second.pk)]
    shown = body["results"][0]
    assert {k: shown[k] for k in ("kind", "threshold", "value", "cleared_at")} == {
        "kind": "quota",
        "threshold": 0.8,
        "value": 0.85,
        "cleared_at": None,
    }
    assert set(shown) >= {"id", "kind", "threshold", "value", "raised_at"}
    every = member(Role.ADMIN).get(f"/api/v1/tenants/{tenant.slug}/alerts/", {"state": "all"}).json()
    assert [a["id"] for a in every["results"]] == [str(second.pk), str(first.pk)]
    assert every["results"][1]["cleared_at"] is not None
    bad = owner.get(f"/api/v1/tenants/{tenant.slug}/alerts/", {"state": "closed"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_state"
    for role in (Role.EDITOR, Role.VIEWER):
        assert member(role).get(f"/api/v1/tenants/{tenant.slug}/alerts/").status_code == 403
    assert outsider.get(f"/api/v1/tenants/{tenant.slug}/alerts/").status_code == 404


# --- Portal banner ------------------------------------------------------------------------


def alert_queries(client, url) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), sum('"analytics_alert"' in q["sql"] for q in queries.captured_queries)


def test_the_banner_tells_owners_and_members_what_to_do(tenant, team, check, settings):
    settings.STORAGE_PRICE_HOT_GB_MONTH = Decimal("1.00")
    snapshot(tenant, hot_bytes=9 * GIB)
    TenantUsage.objects.create(tenant=tenant, bytes=960)
    check(quota_bytes=1000, monthly_budget=Decimal("10.00"))  # quota 96 %, budget 90 %

    page, queries = alert_queries(signed_in(team["olga"].user), f"/t/{tenant.slug}/")
    assert queries == 1
    assert 'aria-label="Storage alert"' in page and "flash error" in page  # 95 %: the danger style
    assert "Storage is over 95 % full" in page and "(96 %: 960" in page
    assert "ask the platform's administrators" in page
    assert page.count('aria-label="Storage alert"') == 1  # the highest level only
    assert 'aria-label="Budget alert"' in page and "Storage cost is over 80 % of the monthly budget" in page
    assert "an estimated USD 9.00 a month, 90 % of USD 10.00, when the alert was raised" in page
    assert f'href="/t/{tenant.slug}/settings/"' in page

    page, queries = alert_queries(signed_in(team["ed"].user), f"/t/{tenant.slug}/settings/")
    assert queries == 0  # the banner's alerts come from the cache now
    assert "Storage is over 95 % full" in page and "ask an owner of the team" in page
    assert "Budget alert" not in page  # the budget is the owners' and admins' business


def test_no_banner_without_alerts_and_no_query_outside_a_team(tenant, team, check):
    TenantUsage.objects.create(tenant=tenant, bytes=500)
    check(quota_bytes=1000)
    client = signed_in(team["olga"].user)
    page, queries = alert_queries(client, f"/t/{tenant.slug}/")
    assert queries == 1 and "alert-banner" not in page
    page, queries = alert_queries(client, f"/t/{tenant.slug}/")
    assert queries == 0 and "alert-banner" not in page  # cached, "none" included
    for outside in ("/", "/account/tokens/"):
        page, queries = alert_queries(client, outside)
        assert queries == 0 and "alert-banner" not in page


def test_the_banner_follows_raised_and_cleared_alerts_at_once(tenant, team, check):
    usage = TenantUsage.objects.create(tenant=tenant, bytes=500)
    check(quota_bytes=1000)
    client = signed_in(team["olga"].user)
    assert "alert-banner" not in alert_queries(client, f"/t/{tenant.slug}/")[0]  # now cached
    usage.bytes = 850
    usage.save()
    check(quota_bytes=1000)  # raises 80 %: the cached "no alerts" is dropped
    page, queries = alert_queries(client, f"/t/{tenant.slug}/")
    assert queries == 1 and "Storage is over 80 % full" in page
    usage.bytes = 100
    usage.save()
    check(quota_bytes=1000)  # clears it
    assert "alert-banner" not in alert_queries(client, f"/t/{tenant.slug}/")[0]


def test_another_teams_alerts_never_show(tenant, team, check):
    TenantUsage.objects.create(tenant=tenant, bytes=900)
    check(quota_bytes=1000)
    stranger = MembershipFactory(role=Role.OWNER)
    page, _ = alert_queries(signed_in(stranger.user), f"/t/{stranger.tenant.slug}/")
    assert "alert-banner" not in page
    raised = Alert.objects.get(tenant=tenant)
    assert raised.raised_at <= timezone.now() < raised.raised_at + timedelta(minutes=1)
