"""The tenant's usage counter: what the quota reads, kept by triggers on files_blob."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum

from accounts.models import Tenant
from files.models import Blob, TenantUsage
from tests.factories import TenantFactory
from tests.files.conftest import upload

pytestmark = pytest.mark.django_db


def _used(client, tenant) -> int:
    response = client.get(f"/api/v1/tenants/{tenant.slug}/")
    assert response.status_code == 200, response.content
    return response.json()["used_bytes"]


def _summed(tenant) -> int:
    return Blob.objects.filter(tenant=tenant).aggregate(total=Sum("size"))["total"] or 0


def _counter_row_version(tenant) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ctid::text, xmin::text FROM files_tenantusage WHERE tenant_id = %s", [tenant.pk])
        return cursor.fetchone()


def test_used_bytes_count_shared_content_once_and_follow_versions_and_purges(editor, tenant, after_commit):
    assert _used(editor, tenant) == 0  # no blob yet, no counter row
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


def test_the_tenant_list_shows_each_tenants_usage_without_a_query_per_tenant(
    editor, tenant, django_assert_max_num_queries
):
    upload(editor, tenant, "a.txt", b"a" * 123)
    with django_assert_max_num_queries(6):
        body = editor.get("/api/v1/tenants/").json()
    assert [(row["slug"], row["used_bytes"]) for row in body["results"]] == [(tenant.slug, 123)]


def test_an_upload_of_bytes_the_tenant_stores_leaves_the_counter_row_alone(editor, tenant):
    # So it neither waits for nor blocks the tenant's uploads of new bytes.
    upload(editor, tenant, "a.txt", b"shared bytes")
    before = _counter_row_version(tenant)
    assert upload(editor, tenant, "again.txt", b"shared bytes").status_code == 201
    assert _counter_row_version(tenant) == before
    assert upload(editor, tenant, "new.txt", b"new bytes").status_code == 201
    assert _counter_row_version(tenant) != before


def test_the_counter_follows_statements_over_many_blobs_and_tenants_and_goes_with_its_tenant():
    first, second = TenantFactory(), TenantFactory()

    def blob(tenant, n, size):
        return Blob(tenant=tenant, sha256=f"{n:064x}", size=size, content_type="text/plain", storage_key=f"k/{n}")

    # One statement for both tenants, as a bulk import or the bench's COPY writes them.
    Blob.objects.bulk_create([blob(first, n, 10) for n in range(50)] + [blob(second, 100 + n, 7) for n in range(30)])
    usage = dict(TenantUsage.objects.values_list("tenant_id", "bytes"))
    assert usage == {first.pk: 500, second.pk: 210}

    Blob.objects.filter(tenant=first, sha256__in=[f"{n:064x}" for n in range(20)]).delete()
    Blob.objects.filter(tenant=second).update(size=3)
    # An update that changes no size (as the dedup upsert that finds its row) leaves the row
    # unlocked and unwritten.
    before = _counter_row_version(first)
    Blob.objects.filter(tenant=first).update(content_type="text/csv")
    assert _counter_row_version(first) == before
    usage = dict(TenantUsage.objects.values_list("tenant_id", "bytes"))
    assert usage == {first.pk: 300, second.pk: 90}
    assert (usage[first.pk], usage[second.pk]) == (_summed(first), _summed(second))

    # Deleting a tenant deletes its blobs and its counter, in whichever order, without
    # bringing the counter back (which would break the foreign key at commit).
    Tenant.objects.filter(pk=first.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert dict(TenantUsage.objects.values_list("tenant_id", "bytes")) == {second.pk: 90}
