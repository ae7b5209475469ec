"""Share receipts: what a link's visitors did (opens, unlocks, downloads, refusals) by day
and by network, the mail on its first open, and the domain events of every open and download."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import sharing.tasks  # noqa: F401 - registers the task run_queued runs
from accounts.models import ActivityEvent, Role
from mediaportal.events import domain_event
from sharing.models import ShareLink
from sharing.selectors import _receipt_events
from sharing.services.links import link_resolve, link_view
from sharing.services.receipts import first_open_notify
from tests.conftest import run_queued
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db

A, A2, B, C = "203.0.113.7", "203.0.113.99", "198.51.100.20", "2001:db8:1:2::5"


def shares(tenant, suffix=""):
    return f"/api/v1/tenants/{tenant.slug}/shares/{suffix}"


def make_link(client, tenant, name="report.txt", **fields) -> tuple[dict, dict]:
    file = upload(client, tenant, name, b"quarterly numbers").json()
    created = client.post(shares(tenant), {"file": file["id"], **fields}, format="json")
    assert created.status_code == 201, created.content
    return file, created.json()


def visit(token: str, ip: str, password: str | None = None, download: bool = False) -> Client:
    """A visitor at `ip`: opens the page, gives the password if any, downloads if asked."""
    visitor = Client(REMOTE_ADDR=ip)
    assert visitor.get(f"/s/{token}").status_code == 200
    if password is not None:
        assert visitor.post(f"/s/{token}", {"password": password}).status_code == 302
    if download:
        assert visitor.get(f"/s/{token}/download").status_code == 302
    return visitor


def receipts(client, tenant, share_id, **params):
    return client.get(shares(tenant, f"{share_id}/receipts/"), params)


def test_receipts_count_what_visitors_did_by_day_and_network_never_by_address(editor, tenant):
    _file, link = make_link(editor, tenant, password="open sesame")
    token = link["token"]
    first = visit(token, A)
    assert first.post(f"/s/{token}", {"password": "nope"}).status_code == 401
    assert first.post(f"/s/{token}", {"password": "open sesame"}).status_code == 302
    assert first.get(f"/s/{token}").status_code == 200
    assert first.get(f"/s/{token}/download").status_code == 302
    visit(token, B, password="open sesame", download=True)
    visit(token, C)
    visit(token, A2)
    # The very first open happened yesterday.
    yesterday = timezone.now() - timedelta(days=1)
    opened = ActivityEvent.objects.filter(verb="share.viewed", ip=A).order_by("at").first()
    ActivityEvent.objects.filter(pk=opened.pk).update(at=yesterday)
    ShareLink.objects.filter(pk=link["id"]).update(first_opened_at=yesterday)

    response = receipts(editor, tenant, link["id"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["opens"], body["unlocks"], body["downloads"]) == (5, 2, 2)
    assert body["refused"] == {"wrong_password": 1, "throttled": 0}
    assert body["link"] == link["id"] and body["name"] == "report.txt"
    assert body["first_opened_at"] == yesterday.isoformat().replace("+00:00", "Z")
    last_open = ActivityEvent.objects.filter(verb="share.viewed").order_by("-at").first().at
    assert body["last_opened_at"] == last_open.isoformat().replace("+00:00", "Z")
    today = timezone.localdate()
    assert body["by_day"] == [
        {"day": str(today - timedelta(days=1)), "opens": 1, "unlocks": 0, "downloads": 0, "refused": 0},
        {"day": str(today), "opens": 4, "unlocks": 2, "downloads": 2, "refused": 1},
    ]
    networks = {
        row["network"]: (row["opens"], row["unlocks"], row["downloads"], row["refused"]) for row in body["networks"]
    }
    assert networks == {
        "203.0.113.0/24": (3, 1, 1, 1),
        "198.51.100.0/24": (1, 1, 1, 0),
        "2001:db8:1::/48": (1, 0, 0, 0),
    }
    assert body["networks"][0]["network"] == "203.0.113.0/24"  # the busiest first
    for address in (A, A2, B, C):
        assert address not in response.content.decode()

    exported = receipts(editor, tenant, link["id"], export="csv")
    assert exported.status_code == 200 and exported["Content-Type"].startswith("text/csv")
    assert exported["Content-Disposition"].startswith('attachment; filename="share-')
    text = exported.content.decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sum(int(row["opens"]) for row in rows) == 5 and sum(int(row["downloads"]) for row in rows) == 2
    today_a = next(r for r in rows if r["day"] == str(today) and r["network"] == "203.0.113.0/24")
    assert (today_a["opens"], today_a["unlocks"], today_a["downloads"], today_a["wrong_passwords"]) == (
        "2",
        "1",
        "1",
        "1",
    )
    for address in (A, A2, B, C):
        assert address not in text
    assert receipts(editor, tenant, link["id"], export="xml").json()["code"] == "invalid_export"


def test_folder_link_receipts_count_zip_and_single_file_downloads(editor, tenant):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Deliveries"}, format="json").json()
    file = upload(editor, tenant, "cut.txt", b"final cut", folder=folder["id"]).json()
    link = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()
    visitor = visit(link["token"], B)
    assert visitor.get(f"/s/{link['token']}/zip").status_code == 200
    assert visitor.get(f"/s/{link['token']}/files/{file['id']}/download").status_code == 302
    # Another link to the same folder is counted apart.
    other = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()
    visit(other["token"], B).get(f"/s/{other['token']}/zip")
    body = receipts(editor, tenant, link["id"]).json()
    assert (body["opens"], body["downloads"]) == (1, 2)
    assert body["networks"] == [
        {"network": "198.51.100.0/24", "opens": 1, "unlocks": 0, "downloads": 2, "refused": 0,
         "last_seen": body["networks"][0]["last_seen"]}
    ]  # fmt: skip


def test_throttled_password_attempts_are_refusals(editor, tenant, settings):
    settings.SHARE_PASSWORD_ATTEMPTS = 2
    _file, link = make_link(editor, tenant, password="open sesame")
    visitor = visit(link["token"], A)
    codes = [visitor.post(f"/s/{link['token']}", {"password": "nope"}).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    body = receipts(editor, tenant, link["id"]).json()
    assert body["refused"] == {"wrong_password": 2, "throttled": 1}
    assert body["networks"][0]["refused"] == 3 and body["by_day"][0]["refused"] == 3


def test_receipts_cost_a_constant_number_of_queries(editor, tenant):
    _file, link = make_link(editor, tenant)
    share = ShareLink.objects.get(pk=link["id"])

    def opens(n: int) -> None:
        ActivityEvent.objects.bulk_create(
            ActivityEvent(
                tenant=tenant,
                verb="share.viewed",
                target_type="sharelink",
                target_id=str(share.pk),
                ip=f"192.0.2.{i % 200}",
                data={"share": str(share.pk)},
            )
            for i in range(n)
        )

    def counted() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            opened = receipts(editor, tenant, share.pk).json()["opens"]
        return opened, len(queries)

    opens(3)
    few = counted()
    opens(2000)
    many = counted()
    assert few[0] == 3 and many[0] == 2003 and few[1] == many[1]


def test_a_links_downloads_are_found_by_their_index(editor, tenant):
    _file, link = make_link(editor, tenant)
    share = ShareLink.objects.get(pk=link["id"])
    # A tenant busy with other things: the planner then reads only the link's two index ranges.
    ActivityEvent.objects.bulk_create(
        ActivityEvent(tenant=tenant, verb=verb, target_type="file", target_id=str(i), data={"share": str(i)})
        for i in range(5000)
        for verb in ("file.downloaded", "share.downloaded")
    )
    query, params = _receipt_events(share).values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_activityevent")
        cursor.execute(f"EXPLAIN {query}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "event_share_downloads" in plan and "event_tenant_target_at" in plan, plan


# --- The first open -----------------------------------------------------------------------


def test_the_first_open_mails_the_creator_once(editor, tenant, queued, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://media.example.org"
    file, link = make_link(editor, tenant, name="Budget 2027.pdf", notify_on_first_open=True)
    assert link["notify_on_first_open"] is True and link["first_opened_at"] is None
    with django_capture_on_commit_callbacks(execute=True):
        for ip in (A, B, A2):
            visit(link["token"], ip)
    assert [name for name, _args in queued] == ["sharing.notify_first_open"]
    assert run_queued(queued, "sharing.notify_first_open") == [True]
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [editor.user.email] and "Budget 2027.pdf" in message.subject
    assert "203.0.113.0/24" in message.body and A not in message.body
    assert f"https://media.example.org/t/{tenant.slug}/files/{file['id']}/" in message.body
    share = ShareLink.objects.get(pk=link["id"])
    assert share.first_opened_at is not None and share.first_open_notified_at is not None
    assert editor.get(shares(tenant, f"{share.pk}/")).json()["first_opened_at"] is not None
    # The broker hands the task out again (a worker lost after the mail went): no second mail.
    assert first_open_notify(share_id=str(share.pk)) is False
    assert len(mail.outbox) == 1


def test_no_mail_when_the_creator_did_not_ask(editor, tenant, queued, django_capture_on_commit_callbacks):
    _file, link = make_link(editor, tenant)
    with django_capture_on_commit_callbacks(execute=True):
        visit(link["token"], A)
    assert queued == [] and mail.outbox == []
    assert ShareLink.objects.get(pk=link["id"]).first_opened_at is not None


def test_two_opens_racing_for_the_first_mark_it_once(editor, tenant, queued, django_capture_on_commit_callbacks):
    _file, link = make_link(editor, tenant, notify_on_first_open=True)
    # Both visitors resolved the link before either open was recorded.
    one, two = (link_resolve(token=link["token"], ip=ip) for ip in (A, B))
    with django_capture_on_commit_callbacks(execute=True):
        link_view(link=one, ip=A)
        link_view(link=two, ip=B)
    assert [name for name, _args in queued] == ["sharing.notify_first_open"]
    assert ActivityEvent.objects.filter(verb="share.viewed").count() == 2


def test_notification_is_switched_by_patch(editor, tenant, queued, django_capture_on_commit_callbacks):
    _file, link = make_link(editor, tenant)
    changed = editor.patch(shares(tenant, f"{link['id']}/"), {"notify_on_first_open": True}, format="json")
    assert changed.status_code == 200 and changed.json()["notify_on_first_open"] is True
    with django_capture_on_commit_callbacks(execute=True):
        visit(link["token"], A)
    run_queued(queued, "sharing.notify_first_open")
    assert len(mail.outbox) == 1


# --- Domain events (webhooks) -------------------------------------------------------------


@pytest.fixture
def published():
    seen: list[tuple[str, dict]] = []

    def receiver(sender, tenant_id, event, data, **kwargs):
        seen.append((event, {**data, "tenant": tenant_id}))

    domain_event.connect(receiver, weak=False)
    yield seen
    domain_event.disconnect(receiver)


def test_opens_and_downloads_are_published(editor, tenant, published, django_capture_on_commit_callbacks):
    file, link = make_link(editor, tenant)
    with django_capture_on_commit_callbacks(execute=True):
        visit(link["token"], A, download=True)
        visit(link["token"], C)
    common = {"share": link["id"], "file": file["id"], "name": "report.txt", "tenant": tenant.pk}
    assert published == [
        ("share.opened", {**common, "first": True, "network": "203.0.113.0/24"}),
        ("share.downloaded", {**common, "zip": False, "network": "203.0.113.0/24"}),
        ("share.opened", {**common, "first": False, "network": "2001:db8:1::/48"}),
    ]


def test_folder_downloads_are_published_with_the_folder(editor, tenant, published, django_capture_on_commit_callbacks):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Deliveries"}, format="json").json()
    file = upload(editor, tenant, "cut.txt", b"final cut", folder=folder["id"]).json()
    link = editor.post(shares(tenant), {"folder": folder["id"]}, format="json").json()
    with django_capture_on_commit_callbacks(execute=True):
        visitor = visit(link["token"], B)
        visitor.get(f"/s/{link['token']}/zip")
        visitor.get(f"/s/{link['token']}/files/{file['id']}/download")
    common = {"share": link["id"], "folder": folder["id"], "tenant": tenant.pk, "network": "198.51.100.0/24"}
    assert published == [
        ("share.opened", {**common, "name": "Deliveries", "first": True}),
        ("share.downloaded", {**common, "name": "Deliveries", "zip": True}),
        ("share.downloaded", {**common, "name": "cut.txt", "file": file["id"], "zip": False}),
    ]


# --- Who may read them --------------------------------------------------------------------


def test_receipts_are_the_creators_and_the_admins(editor, member, tenant, outsider):
    _file, link = make_link(editor, tenant)
    url = shares(tenant, f"{link['id']}/receipts/")
    assert editor.get(url).status_code == 200
    assert member(Role.OWNER).get(url).status_code == 200
    assert member(Role.ADMIN).get(url).status_code == 200
    for other in (member(Role.EDITOR), member(Role.VIEWER), outsider):
        response = other.get(url)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
        assert other.get(url, {"export": "csv"}).status_code == 404
