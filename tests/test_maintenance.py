"""Maintenance mode (a restore running): 503 with Retry-After everywhere but the probes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from files import storage
from files.services.orphans import orphan_sweep
from mediaportal import maintenance
from mediaportal.redisclient import cache_redis
from tests.files.conftest import sha, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def in_maintenance():
    maintenance.maintenance_begin(reason="restore")
    yield
    maintenance.maintenance_end()


def test_the_api_and_the_pages_answer_503_with_retry_after(in_maintenance, client, editor, tenant):
    answer = editor.get(f"/api/v1/tenants/{tenant.slug}/files/")
    assert answer.status_code == 503
    assert answer.json()["code"] == "maintenance"
    assert int(answer["Retry-After"]) > 0
    page = client.get("/login/")
    assert page.status_code == 503 and int(page["Retry-After"]) > 0
    assert b"restored from a backup" in page.content
    # The security headers still go out (the middleware sits after them).
    assert page["X-Content-Type-Options"] == "nosniff"


def test_healthz_stays_200_and_readyz_says_why(in_maintenance, client):
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert body["failing"] == ["maintenance"] and body["maintenance"] == {"reason": "restore"}
    assert set(body["services"]) == {"database", "redis", "s3", "broker"}


def test_the_site_opens_again_when_maintenance_ends(editor, tenant):
    with maintenance.maintenance_mode(reason="restore", settle=0):
        assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/").status_code == 503
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/").status_code == 200
    assert maintenance.maintenance_state() is None


def test_the_flag_expires_on_its_own():
    """A restore that dies leaves the flag for at most its TTL."""
    maintenance.maintenance_begin(reason="restore")
    try:
        assert 0 < cache_redis(1.0).ttl(maintenance.KEY) <= maintenance.TTL_SECONDS
    finally:
        maintenance.maintenance_end()


@pytest.fixture
def redis_away(settings, monkeypatch):
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": "unix:///nonexistent/redis.sock?db=1"}}
    cache_redis.cache_clear()
    monkeypatch.setattr(maintenance, "_memo", (0.0, None, 0.0))
    yield
    cache_redis.cache_clear()
    maintenance._memo = (0.0, None, 0.0)


def test_without_redis_the_site_stays_open_and_a_restore_does_not_start(redis_away):
    started = time.monotonic()
    assert maintenance.maintenance_state() is None
    assert maintenance.maintenance_state() is None  # not asked again for a while
    assert time.monotonic() - started < 1
    with pytest.raises(maintenance.MaintenanceUnavailable):
        maintenance.maintenance_begin(reason="restore")


def test_the_orphan_sweep_waits_for_the_restore(in_maintenance, tenant):
    """During a restore the rows that claim objects are being rebuilt: the sweep deletes nothing."""
    data = b"stored after the backup"
    key = storage.blob_key(tenant.id, sha(data))
    storage.object_put(key=key, body=data, sha256=sha(data), content_type="text/plain", tenant_id=tenant.id)
    assert orphan_sweep(older_than=timedelta(0), tenant_ids=[tenant.id]) == 0
    assert storage.object_head(key) is not None
    storage.object_delete(key)


def test_an_upload_is_refused_and_keeps_nothing(in_maintenance, editor, tenant):
    answer = upload(editor, tenant, "during.txt", b"sent during the restore")
    assert answer.status_code == 503
    assert storage.object_head(storage.blob_key(tenant.id, sha(b"sent during the restore"))) is None
