"""Every figure of every analytics endpoint, against the known set of tests/analytics/conftest.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import ActivityEvent, Membership
from analytics import selectors
from analytics.models import StorageSnapshot
from files.models import File, Rendition
from tests.analytics.conftest import NOTES, OLD, PHOTO, REPORT_V1, REPORT_V2, api, roll_up, snapshot
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import client_for

pytestmark = pytest.mark.django_db

ENDPOINTS = ["analytics/storage/", "analytics/file-types/", "analytics/usage/", "analytics/categories/"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def got(client, tenant, suffix: str, **params) -> dict:
    response = client.get(api(tenant, suffix), params)
    assert response.status_code == 200, response.content
    return response.json()


def csv_rows(client, tenant, suffix: str, **params) -> list[dict]:
    response = client.get(api(tenant, suffix), {**params, "export": "csv"})
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="{tenant.slug}-')
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(body.decode())))


@pytest.fixture
def counted(known):
    roll_up()
    snapshot()
    return known


def test_storage_shows_every_figure(counted):
    tenant, owner = counted.tenant, counted.owner
    renditions = list(Rendition.objects.filter(tenant=tenant).order_by("pk").values_list("size", flat=True))
    assert renditions, "processing made renditions"
    physical = len(NOTES) + len(PHOTO) + len(REPORT_V1) + len(REPORT_V2) + len(OLD)
    replicated = len(NOTES) + renditions[0]
    storage = got(owner, tenant, "analytics/storage/")
    owner_name, editor_name = owner.user.username, counted.editor.user.username
    assert storage.pop("as_of")
    assert storage == {
        "logical_bytes": physical + len(NOTES),
        "physical_bytes": physical,
        "dedup_saved_bytes": len(NOTES),
        "rendition_bytes": sum(renditions),
        "hot_bytes": physical - len(PHOTO),
        "archive_bytes": len(PHOTO),
        "replicated_bytes": replicated,
        "replica_coverage": round(replicated / (physical + sum(renditions)), 4),
        "quota_bytes": tenant.quota_bytes,
        "used_bytes": physical,
        "files": 5,
        "by_user": sorted(
            [
                {"user": owner_name, "bytes": len(NOTES) + len(PHOTO) + len(OLD), "files": 3},
                {"user": editor_name, "bytes": len(NOTES) + len(REPORT_V1) + len(REPORT_V2), "files": 2},
            ],
            key=lambda row: -row["bytes"],
        ),
        "by_folder": sorted(
            [
                {"folder": None, "path": "/", "bytes": len(NOTES) + len(REPORT_V1) + len(REPORT_V2), "files": 2},
                {
                    "folder": counted.folders["docs"]["id"],
                    "path": "/Docs/",
                    "bytes": len(PHOTO) + len(NOTES),
                    "files": 2,
                },
            ],
            key=lambda row: -row["bytes"],
        ),
    }


def test_file_types_and_categories(counted):
    tenant, owner = counted.tenant, counted.owner
    assert File.objects.get(pk=counted.files["notes"]["id"]).content_type == "text/plain"
    types = got(owner, tenant, "analytics/file-types/")
    assert types["as_of"]
    assert types["results"] == sorted(
        [
            {
                "type": "text",
                "content_type": "text/plain",
                "files": 3,
                "bytes": 2 * len(NOTES) + len(REPORT_V1) + len(REPORT_V2),
            },
            {"type": "image", "content_type": "image/jpeg", "files": 1, "bytes": len(PHOTO)},
        ],
        key=lambda row: -row["bytes"],
    )
    found = got(owner, tenant, "analytics/categories/")
    # The trashed file's tag does not count.
    assert (found["labels"], found["tags"]) == ({"lizard": 1, "text": 1}, {"holiday": 2, "beach": 1})
    assert list(found["tags"]) == ["holiday", "beach"]  # most first


def test_usage_counts_today(counted):
    tenant, owner = counted.tenant, counted.owner
    usage = got(owner, tenant, "analytics/usage/", **{"from": today(), "to": today()})
    assert usage["results"] == [
        {
            "period": today(),
            "uploads": 6,  # five files and one new version
            "upload_bytes": 2 * len(NOTES) + len(PHOTO) + len(REPORT_V1) + len(REPORT_V2) + len(OLD),
            "downloads": 5,  # 3 by members, 1 through the file link, 1 ZIP through the folder link
            "views": 2,
            "share_hits": 3,  # the page, the download, the ZIP
            "active_users": 2,  # the owner and the editor; the viewer did nothing
        }
    ]
    # The default range is the last 30 days, one row each, today's last.
    default = got(owner, tenant, "analytics/usage/")["results"]
    assert len(default) == 30 and default[-1] == usage["results"][0]
    assert sum(row["uploads"] for row in default) == 6
    weekly = got(owner, tenant, "analytics/usage/", interval="week")["results"]
    assert weekly[-1]["uploads"] == 6 and weekly[-1]["active_users"] == 2
    assert all(datetime.fromisoformat(row["period"]).weekday() == 0 for row in weekly)


def test_active_users_of_a_week_are_distinct_users_not_a_sum_of_days(counted):
    tenant, owner = counted.tenant, counted.owner
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday() + 7)
    for offset in (0, 1, 2):  # the owner on three days of last week, the editor on one
        at = datetime.combine(monday + timedelta(days=offset), datetime.min.time(), tzinfo=UTC) + timedelta(hours=9)
        ActivityEvent.objects.create(tenant=tenant, user=owner.user, verb="file.downloaded", at=at)
    ActivityEvent.objects.create(
        tenant=tenant, user=counted.editor.user, verb="file.downloaded", at=at + timedelta(hours=1)
    )
    roll_up()
    params = {"from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat()}
    daily = got(owner, tenant, "analytics/usage/", **params)["results"]
    assert [row["active_users"] for row in daily] == [1, 1, 2, 0, 0, 0, 0]
    assert [row["downloads"] for row in daily] == [1, 1, 2, 0, 0, 0, 0]
    weekly = got(owner, tenant, "analytics/usage/", interval="week", **params)["results"]
    assert weekly == [
        {
            "period": monday.isoformat(),
            "uploads": 0,
            "upload_bytes": 0,
            "downloads": 4,
            "views": 0,
            "share_hits": 0,
            "active_users": 2,
        }
    ]


def test_csv_exports_match_the_json(counted):
    tenant, owner = counted.tenant, counted.owner
    storage = got(owner, tenant, "analytics/storage/")
    rows = csv_rows(owner, tenant, "analytics/storage/")
    summary = {row["name"]: row["value"] for row in rows if row["section"] == "summary"}
    assert summary["logical_bytes"] == str(storage["logical_bytes"])
    assert summary["replica_coverage"] == str(storage["replica_coverage"])
    assert len(summary) == 11
    users = [
        {"user": row["name"], "bytes": int(row["bytes"]), "files": int(row["files"])}
        for row in rows
        if row["section"] == "user"
    ]
    assert users == storage["by_user"]
    folders = [
        {"folder": row["name"] or None, "path": row["path"], "bytes": int(row["bytes"]), "files": int(row["files"])}
        for row in rows
        if row["section"] == "folder"
    ]
    assert folders == storage["by_folder"]

    types = got(owner, tenant, "analytics/file-types/")["results"]
    assert [
        {**row, "files": int(row["files"]), "bytes": int(row["bytes"])}
        for row in csv_rows(owner, tenant, "analytics/file-types/")
    ] == types
    usage = got(owner, tenant, "analytics/usage/")["results"]
    assert [
        {key: (value if key == "period" else int(value)) for key, value in row.items()}
        for row in csv_rows(owner, tenant, "analytics/usage/")
    ] == usage
    found = got(owner, tenant, "analytics/categories/")
    assert {
        (row["kind"], row["name"], int(row["files"])) for row in csv_rows(owner, tenant, "analytics/categories/")
    } == {("label", k, v) for k, v in found["labels"].items()} | {("tag", k, v) for k, v in found["tags"].items()}


def test_members_are_refused_and_other_tenants_not_found(counted, outsider):
    for suffix in [*ENDPOINTS, "analytics/activity/"]:
        for client in (counted.editor, counted.viewer):
            for params in ({}, {"export": "csv"}):
                response = client.get(api(counted.tenant, suffix), params)
                assert response.status_code == 403 and response.json()["code"] == "permission_denied", suffix
        assert outsider.get(api(counted.tenant, suffix)).status_code == 404


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "yesterday"}, "invalid_date"),
        ({"to": "2024-02-30"}, "invalid_date"),
        ({"interval": "month"}, "invalid_interval"),
        ({"from": "2024-03-02", "to": "2024-03-01"}, "invalid_range"),
        ({"from": "2023-01-01", "to": "2024-03-01"}, "invalid_range"),
        ({"export": "xlsx"}, "invalid_export"),
    ],
)
def test_bad_parameters_are_400_with_a_code(owner, tenant, params, code):
    response = owner.get(api(tenant, "analytics/usage/"), params)
    assert response.status_code == 400 and response.json()["code"] == code


def test_the_number_of_queries_does_not_grow_with_the_data(counted, django_assert_max_num_queries):
    tenant, owner = counted.tenant, counted.owner

    def queries() -> list[int]:
        counts = []
        for suffix in [*ENDPOINTS, "analytics/activity/"]:
            for params in ({}, {"export": "csv"}):
                with CaptureQueriesContext(connection) as captured:
                    response = owner.get(api(tenant, suffix), params)
                    if response.streaming:
                        b"".join(response.streaming_content)
                assert response.status_code == 200
                counts.append(len(captured))
        return counts

    before = queries()
    assert max(before) <= 6
    more = MembershipFactory(tenant=tenant)
    ActivityEvent.objects.bulk_create(
        ActivityEvent(tenant=tenant, user=more.user, verb="file.downloaded", at=datetime.now(UTC) - timedelta(hours=n))
        for n in range(300)
    )
    uploader = client_for(more.user)
    for n in range(5):
        assert (
            upload(uploader, tenant, f"more{n}.txt", b"x%d" % n, folder=counted.folders["docs"]["id"]).status_code
            == 201
        )
    roll_up()
    snapshot()
    assert queries() == before
    with django_assert_max_num_queries(6):
        owner.get(api(tenant, "analytics/storage/"))


def test_storage_history_has_the_last_snapshot_of_each_day(counted):
    tenant = counted.tenant
    yesterday = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    for hour, logical in ((yesterday.replace(hour=3), 10), (yesterday.replace(hour=20), 20)):
        StorageSnapshot.objects.create(tenant=tenant, hour=hour, taken_at=hour, logical_bytes=logical)
    membership = Membership.objects.get(tenant=tenant, user=counted.owner.user)
    history = selectors.storage_history(membership=membership, days=2)["results"]
    latest = StorageSnapshot.objects.filter(tenant=tenant).order_by("-hour").first()
    assert [(row["date"], row["logical_bytes"]) for row in history] == [
        (yesterday.date().isoformat(), 20),
        (today(), latest.logical_bytes),
    ]
