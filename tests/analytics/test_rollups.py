"""The roll-ups: idempotent, late commits counted, views folded in, snapshots when due, backfill."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import redis
from django.core.management import call_command
from django.db import connection
from django.test import Client

from accounts.models import ActivityEvent
from analytics.models import ActiveUserDay, RollupCursor, StorageSnapshot, UsageHour
from analytics.services.snapshots import storage_snapshot_due
from mediaportal import viewcounts
from tests.analytics.conftest import api, roll_up, snapshot
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db

USAGE_COLUMNS = ("tenant_id", "hour", "uploads", "upload_bytes", "downloads", "views", "share_hits")


def usage_rows() -> list[tuple]:
    return list(UsageHour.objects.order_by("tenant_id", "hour").values_list(*USAGE_COLUMNS))


def hour_of(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def test_rolling_up_twice_changes_nothing(known):
    roll_up()
    first, users = usage_rows(), set(ActiveUserDay.objects.values_list("tenant_id", "day", "user_id"))
    assert first and len(users) == 2
    roll_up()
    assert usage_rows() == first
    assert set(ActiveUserDay.objects.values_list("tenant_id", "day", "user_id")) == users


def test_an_event_with_an_old_time_added_later_lands_in_its_own_hour(tenant):
    member = MembershipFactory(tenant=tenant)
    roll_up()
    three_hours_ago = datetime.now(UTC) - timedelta(hours=3)
    ActivityEvent.objects.create(
        tenant=tenant, user=member.user, verb="file.uploaded", at=three_hours_ago, data={"size": 123}
    )
    roll_up()
    row = UsageHour.objects.get(tenant=tenant, hour=hour_of(three_hours_ago))
    assert (row.uploads, row.upload_bytes, row.downloads) == (1, 123, 0)
    assert ActiveUserDay.objects.filter(tenant=tenant, user_id=member.user_id, day=three_hours_ago.date()).exists()


def _id_taken_now() -> int:
    """An event id handed out now whose row is inserted later: a transaction that commits late."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('accounts_activityevent', 'id'))")
        return cursor.fetchone()[0]


def test_an_event_committed_after_later_ids_were_rolled_up_is_counted(tenant):
    late_id = _id_taken_now()
    ActivityEvent.objects.create(tenant=tenant, verb="file.downloaded")
    roll_up()
    assert RollupCursor.objects.get(name="usage").last_id > late_id
    ActivityEvent.objects.create(id=late_id, tenant=tenant, verb="file.downloaded")
    roll_up()
    assert UsageHour.objects.get(tenant=tenant).downloads == 2


def test_past_the_late_commit_window_the_roll_up_no_longer_reads_again(tenant, settings):
    settings.ANALYTICS_LATE_COMMIT_SECONDS = 0
    late_id = _id_taken_now()
    ActivityEvent.objects.create(tenant=tenant, verb="file.downloaded")
    roll_up()
    ActivityEvent.objects.create(id=late_id, tenant=tenant, verb="file.downloaded")
    roll_up()
    assert UsageHour.objects.get(tenant=tenant).downloads == 1  # what analytics_backfill is for
    call_command("analytics_backfill", tenant=tenant.slug, stdout=io.StringIO())
    assert UsageHour.objects.get(tenant=tenant).downloads == 2


def test_views_counted_in_redis_flow_into_usage(tenant):
    member = MembershipFactory(tenant=tenant)
    for _ in range(3):
        viewcounts.view_count(tenant_id=tenant.id, user_id=member.user_id)
    viewcounts.view_count(tenant_id=tenant.id)
    viewcounts.view_count(tenant_id=TenantFactory().id)
    roll_up()
    now = datetime.now(UTC)
    assert UsageHour.objects.get(tenant=tenant, hour=hour_of(now)).views == 4
    assert list(ActiveUserDay.objects.filter(tenant=tenant).values_list("user_id", flat=True)) == [member.user_id]
    viewcounts.view_count(tenant_id=tenant.id)
    roll_up()
    roll_up()
    assert UsageHour.objects.get(tenant=tenant, hour=hour_of(now)).views == 5


def test_a_view_is_not_counted_and_the_request_goes_on_when_redis_is_away(tenant, monkeypatch, caplog):
    away = redis.Redis(unix_socket_path="/nonexistent/redis.sock", socket_timeout=0.1)
    monkeypatch.setattr(viewcounts, "cache_redis", lambda timeout: away)
    monkeypatch.setattr(viewcounts, "_last_warning", 0.0)
    viewcounts.view_count(tenant_id=tenant.id)  # raises nothing
    assert "a file view was not counted" in caplog.text


def test_snapshots_are_taken_when_a_tenant_changed_and_once_an_hour(tenant):
    quiet = TenantFactory()
    assert snapshot()["snapshots"] == 2  # none this hour yet: every tenant
    assert snapshot()["snapshots"] == 0  # nothing changed
    ActivityEvent.objects.create(tenant=tenant, verb="file.trashed")
    assert snapshot()["snapshots"] == 1
    next_hour = hour_of(datetime.now(UTC)) + timedelta(hours=1, minutes=2)
    assert storage_snapshot_due(now=next_hour)["snapshots"] == 2
    assert StorageSnapshot.objects.filter(tenant=quiet).count() == 2


def test_backfill_counts_the_history_as_the_roll_up_would(known):
    roll_up()
    rolled = usage_rows()
    UsageHour.objects.all().delete()
    ActiveUserDay.objects.all().delete()
    out = io.StringIO()
    call_command("analytics_backfill", since=(datetime.now(UTC).date() - timedelta(days=2)).isoformat(), stdout=out)
    assert "usage [" in out.getvalue() and "Done:" in out.getvalue()
    # The views come from the counter, which the backfill does not read again.
    assert [row[:5] + row[6:] for row in usage_rows()] == [row[:5] + row[6:] for row in rolled]
    assert ActiveUserDay.objects.count() == 2


def test_activity_filters_and_a_streamed_csv_of_every_matching_event(known):
    tenant, owner, editor = known.tenant, known.owner, known.editor
    ActivityEvent.objects.bulk_create(
        ActivityEvent(tenant=tenant, user=editor.user, verb="file.downloaded", target_repr="=cmd()") for _ in range(120)
    )
    ActivityEvent.objects.create(
        tenant=tenant, user=editor.user, verb="file.downloaded", at=datetime.now(UTC) - timedelta(days=3)
    )
    mine = ActivityEvent.objects.filter(tenant=tenant, user=editor.user)
    today = datetime.now(UTC).date().isoformat()
    page = owner.get(api(tenant, "analytics/activity/"), {"user": editor.user.username, "from": today}).json()
    assert len(page["results"]) == 50 and page["next"]
    assert {row["user"] for row in page["results"]} == {editor.user.username}

    response = owner.get(
        api(tenant, "analytics/activity/"),
        {"user": editor.user.username, "from": today, "to": today, "export": "csv"},
    )
    assert response.status_code == 200 and response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == mine.filter(at__date=datetime.now(UTC).date()).count() == mine.count() - 1
    assert rows[0]["target_repr"] in ("'=cmd()", rows[0]["target_repr"])
    assert any(row["target_repr"] == "'=cmd()" for row in rows)  # no formula for a spreadsheet to run
    verb = owner.get(api(tenant, "analytics/activity/"), {"verb": "share.", "export": "csv"})
    shared = list(csv.DictReader(io.StringIO(b"".join(verb.streaming_content).decode())))
    assert sorted(row["verb"] for row in shared) == sorted(
        ActivityEvent.objects.filter(tenant=tenant, verb__startswith="share.").values_list("verb", flat=True)
    )
    assert owner.get(api(tenant, "analytics/activity/"), {"from": "nope"}).json()["code"] == "invalid_date"


def test_opening_a_file_page_in_the_portal_is_a_view(known):
    web = Client()
    web.force_login(known.editor.user)
    assert web.get(f"/t/{known.tenant.slug}/files/{known.files['notes']['id']}/").status_code == 200
    roll_up()
    # Two previews loaded through the API by the known set, and this page.
    assert UsageHour.objects.get(tenant=known.tenant, hour=hour_of(datetime.now(UTC))).views == 3
