from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Role
from files.models import File, FileStatus
from tests.files.conftest import CORPUS, upload

pytestmark = pytest.mark.django_db


def files_url(tenant):
    return f"/api/v1/tenants/{tenant.slug}/files/"


def names(response):
    assert response.status_code == 200, response.content
    return [f["name"] for f in response.json()["results"]]


@pytest.fixture
def library(editor, tenant, member):
    folder = editor.post(f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "Photos"}, format="json").json()
    sub = editor.post(
        f"/api/v1/tenants/{tenant.slug}/folders/", {"name": "2024", "parent": folder["id"]}, format="json"
    ).json()
    other = member(Role.EDITOR)
    made = {
        "photo": upload(
            editor,
            tenant,
            "court.jpg",
            (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes(),
            folder=folder["id"],
            tags=["sport"],
        ),
        "nested": upload(
            editor, tenant, "kodak.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes(), folder=sub["id"]
        ),
        "pdf": upload(
            editor,
            tenant,
            "crazyones.pdf",
            (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes(),
            tags=["sport", "reading"],
        ),
        "text": upload(other, tenant, "notes.txt", b"plain words"),
    }
    File.objects.filter(pk=made["text"].json()["id"]).update(
        created_at=timezone.now() - timedelta(days=10), status=FileStatus.COMPLETED
    )
    return {"folder": folder, "sub": sub, "other": other}


def test_filters(editor, tenant, library):
    url = files_url(tenant)
    assert sorted(names(editor.get(url))) == ["court.jpg", "crazyones.pdf", "kodak.jpg", "notes.txt"]
    assert names(editor.get(url, {"folder": library["folder"]["id"]})) == ["court.jpg"]
    assert sorted(names(editor.get(url, {"folder": library["folder"]["id"], "subtree": "true"}))) == [
        "court.jpg",
        "kodak.jpg",
    ]
    assert sorted(names(editor.get(url, {"folder": "root"}))) == ["crazyones.pdf", "notes.txt"]
    assert sorted(names(editor.get(url, {"type": "image"}))) == ["court.jpg", "kodak.jpg"]
    assert names(editor.get(url, {"type": "document"})) == ["crazyones.pdf"]
    assert names(editor.get(url, {"type": "text"})) == ["notes.txt"]
    assert sorted(names(editor.get(url, {"tag": "sport"}))) == ["court.jpg", "crazyones.pdf"]
    assert names(editor.get(url, {"tag": ["sport", "reading"]})) == ["crazyones.pdf"]
    assert names(editor.get(url, {"status": "completed"})) == ["notes.txt"]
    assert names(editor.get(url, {"uploaded_by": str(library["other"].user.id)})) == ["notes.txt"]
    assert names(editor.get(url, {"uploaded_by": library["other"].user.username})) == ["notes.txt"]
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    assert names(editor.get(url, {"created_before": week_ago})) == ["notes.txt"]
    assert "notes.txt" not in names(editor.get(url, {"created_after": week_ago}))
    assert editor.get(url, {"type": "spreadsheet-ish"}).status_code == 400
    assert editor.get(url, {"created_after": "yesterday"}).json()["code"] == "invalid_filter"


def test_ordering(editor, tenant, library):
    url = files_url(tenant)
    assert names(editor.get(url, {"ordering": "name"})) == ["court.jpg", "crazyones.pdf", "kodak.jpg", "notes.txt"]
    assert names(editor.get(url, {"ordering": "-name"}))[0] == "notes.txt"
    sizes = [f["size"] for f in editor.get(url, {"ordering": "size"}).json()["results"]]
    assert sizes == sorted(sizes)
    assert names(editor.get(url, {"ordering": "created_at"}))[0] == "notes.txt"
    assert editor.get(url, {"ordering": "owner"}).status_code == 400


def test_cursor_pagination_walks_everything_once(editor, tenant):
    for i in range(7):
        upload(editor, tenant, f"same-size-{i}.txt", b"0123456789")
    seen, url, params = [], files_url(tenant), {"page_size": 3, "ordering": "size"}
    while url:
        body = editor.get(url, params).json()
        params = None
        assert set(body) == {"results", "next", "previous"}
        seen += [f["id"] for f in body["results"]]
        url = body["next"]
    assert len(seen) == 7 == len(set(seen))


def test_query_count_does_not_grow_with_page_size(editor, tenant):
    for i in range(12):
        upload(editor, tenant, f"f{i}.txt", f"content {i}".encode())

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as ctx:
            response = editor.get(files_url(tenant), {"page_size": page_size})
        assert len(response.json()["results"]) == page_size
        return len(ctx.captured_queries)

    assert count(2) == count(12)


def test_viewer_does_not_see_private_files_of_others(editor, tenant, member):
    private = upload(editor, tenant, "secret.txt", b"s").json()
    editor.patch(f"{files_url(tenant)}{private['id']}/", {"visibility": "private"}, format="json")
    upload(editor, tenant, "shared.txt", b"t")
    viewer = member(Role.VIEWER)
    assert names(viewer.get(files_url(tenant))) == ["shared.txt"]
    assert viewer.get(f"{files_url(tenant)}{private['id']}/").status_code == 404
    assert viewer.get(f"{files_url(tenant)}{private['id']}/download/").status_code == 404
    assert sorted(names(editor.get(files_url(tenant)))) == ["secret.txt", "shared.txt"]
    assert len(names(member(Role.ADMIN).get(files_url(tenant)))) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"status": "done"},
        {"created_after": "2024-13-45"},  # well formed, impossible: was a 500
        {"created_after": "2024-01-01T25:00"},
        {"created_after": "0001-01-01T00:00:00+23:59"},  # before year 1 in UTC: was a 500
        {"taken_after": "2024-02-30"},
    ],
)
def test_a_filter_value_that_cannot_be_is_a_400(editor, tenant, params):
    response = editor.get(files_url(tenant), params)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_filter"


def test_a_date_with_any_offset_python_takes_still_filters(editor, tenant, library):
    # PostgreSQL takes offsets up to 15:59: this one was a 500. It is 2100-01-01 16:00 in UTC.
    assert len(names(editor.get(files_url(tenant), {"created_before": "2099-12-31T20:00:00-20:00"}))) == 4
