"""The tenant's usage: what the quota reads, kept as rows of changes by triggers on files_blob."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import Role, Tenant, TenantUsage
from files.models import Blob
from files.services import quota
from tests.factories import MembershipFactory, TenantFactory
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def _used(client, tenant) -> int:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/")
    assert response.status_code == 200, response.content
    return response.json()["used_bytes"]


def _summed(tenant) -> int:
    return Blob.objects.filter(tenant=tenant).aggregate(total=Sum("size"))["total"] or 0


def _rows(tenant) -> list[int]:
    return list(TenantUsage.objects.filter(tenant=tenant).order_by("pk").values_list("bytes", flat=True))


def test_used_bytes_count_shared_content_once_and_follow_versions_and_purges(editor, tenant, after_commit):
    assert _used(editor, tenant) == 0
    a = upload(editor, tenant, "a.txt", b"a" * 100).json()
    b = upload(editor, tenant, "b.txt", b"b" * 200).json()
    copy = upload(editor, tenant, "copy-of-a.txt", b"a" * 100).json()
    assert _used(editor, tenant) == 300 == _summed(tenant)

    # A new version adds its bytes; the old version keeps its own.
    replaced = upload(editor, tenant, "b.txt", b"c" * 50, on_conflict="replace")
    assert replaced.status_code == 201, replaced.content
    assert _used(editor, tenant) == 350 == _summed(tenant)

    # Purging a file whose bytes another file shares frees nothing; purging the last user frees them.
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{copy['id']}/?permanent=true").status_code == 204
    assert _used(editor, tenant) == 350
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{b['id']}/?permanent=true").status_code == 204
    assert _used(editor, tenant) == 100 == _summed(tenant)
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{a['id']}/?permanent=true").status_code == 204
    assert _used(editor, tenant) == 0 == _summed(tenant)


def test_the_tenant_list_shows_each_tenants_usage_in_one_query(editor, tenant):
    def listed() -> tuple[int, list]:
        with CaptureQueriesContext(connection) as queries:
            body = editor.get("/api/v1/tenants/").json()
        return len(queries), sorted(row["used_bytes"] for row in body["results"])

    upload(editor, tenant, "a.txt", b"a" * 123)
    one_tenant, rows = listed()
    assert rows == [123]
    for n in range(3):
        other = MembershipFactory(user=editor.user, role=Role.OWNER).tenant
        upload(editor, other, "b.txt", b"b" * (10 + n))
    three_more, rows = listed()
    assert three_more == one_tenant and rows == [10, 11, 12, 123]


def test_an_upload_of_bytes_the_tenant_stores_adds_no_usage_row(editor, tenant):
    upload(editor, tenant, "a.txt", b"shared bytes")
    assert _rows(tenant) == [12]
    assert upload(editor, tenant, "again.txt", b"shared bytes").status_code == 201
    assert _rows(tenant) == [12]
    assert upload(editor, tenant, "new.txt", b"new bytes").status_code == 201
    assert _rows(tenant) == [12, 9]


def test_usage_rows_are_folded_into_one_when_they_pile_up(editor, tenant, monkeypatch):
    monkeypatch.setattr(quota, "USAGE_ROWS_FOLDED_AFTER", 3)
    for n in range(3):
        upload(editor, tenant, f"{n}.txt", bytes([65 + n]) * (n + 1))
    assert _rows(tenant) == [1, 2, 3]
    upload(editor, tenant, "3.txt", b"D" * 4)  # finds 4 rows, its own among them
    assert _rows(tenant) == [10]
    upload(editor, tenant, "4.txt", b"E" * 5)
    assert _rows(tenant) == [10, 5] and _used(editor, tenant) == 15 == _summed(tenant)


def test_a_purge_leaves_its_usage_rows_folded(editor, tenant, monkeypatch, after_commit):
    # A purge writes a row per blob it releases; a tenant that only deletes afterwards must
    # not leave every later read summing them.
    monkeypatch.setattr(quota, "USAGE_ROWS_FOLDED_AFTER", 3)
    for n in range(3):
        upload(editor, tenant, f"{n}.txt", bytes([65 + n]) * (n + 1))
    upload(editor, tenant, "kept.txt", b"kept")  # finds 4 rows: folded into one
    for file in editor.get(f"/api/v1/tenants/{tenant.slug}/files/").json()["results"]:
        if file["name"] != "kept.txt":
            assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/").status_code == 204
    with after_commit():
        assert editor.post(f"/api/v1/tenants/{tenant.slug}/trash/empty/").status_code == 204
    assert _rows(tenant) == [4] and _used(editor, tenant) == 4 == _summed(tenant)


def test_one_row_per_tenant_per_statement_over_many_blobs_and_tenants():
    first, second = TenantFactory(), TenantFactory()

    def blob(tenant, n, size):
        return Blob(tenant=tenant, sha256=f"{n:064x}", size=size, content_type="text/plain", storage_key=f"k/{n}")

    # One statement for both tenants, as a bulk import or a COPY writes them.
    Blob.objects.bulk_create([blob(first, n, 10) for n in range(50)] + [blob(second, 100 + n, 7) for n in range(30)])
    assert (_rows(first), _rows(second)) == ([500], [210])

    Blob.objects.filter(tenant=first, sha256__in=[f"{n:064x}" for n in range(20)]).delete()
    Blob.objects.filter(tenant=second).update(size=3)
    Blob.objects.filter(tenant=first).update(content_type="text/csv")  # no size changes: no row
    assert (_rows(first), _rows(second)) == ([500, -200], [210, -120])
    assert (quota.tenant_usage_bytes(tenant=first), quota.tenant_usage_bytes(tenant=second)) == (300, 90)
    assert (_summed(first), _summed(second)) == (300, 90)


def test_a_tenant_deleted_in_the_admin_takes_its_usage_rows_along(admin_client, editor, tenant, after_commit):
    file = upload(editor, tenant, "a.txt", b"gone soon").json()
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file['id']}/?permanent=true").status_code == 204
    assert _rows(tenant) == [9, -9]
    page = admin_client.get(f"/admin/accounts/tenant/{tenant.pk}/delete/")
    assert page.status_code == 200 and "Are you sure" in page.content.decode()
    assert "have permission to delete" not in page.content.decode()
    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content
    # The deletion's blob deletes add rows after Django collected what to delete: the
    # database cascades them (without that, the tenant's delete would fail on the key).
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not TenantUsage.objects.filter(tenant_id=tenant.pk).exists()


def test_a_tenant_with_blobs_deleted_at_once_leaves_no_usage_rows():
    tenant = TenantFactory()
    Blob.objects.create(tenant=tenant, sha256="a" * 64, size=5, content_type="text/plain", storage_key="k")
    Tenant.objects.filter(pk=tenant.pk).delete()
    assert not TenantUsage.objects.filter(tenant_id=tenant.pk).exists()
