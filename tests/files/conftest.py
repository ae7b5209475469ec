from __future__ import annotations

import functools
import hashlib
import json
import threading
import time

import pytest
import requests
from django.db import connection

from files import storage
from tests.helpers import CORPUS


def tenant_objects(tenant, kind: str = "blobs") -> list[str]:
    """Keys stored in the primary bucket under the tenant's prefix."""
    return sorted(obj["Key"] for obj in storage.object_keys(f"tenants/{tenant.id}/{kind}/"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload(client, tenant, name: str, data: bytes, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    body = {"file": SimpleUploadedFile(name, data, content_type=fields.pop("content_type", "application/octet-stream"))}
    body.update(fields)
    return client.post(f"/api/v1/tenants/{tenant.slug}/files/", body, format="multipart")


def downloaded(client, tenant, file_id, **params) -> tuple[int, bytes]:
    """What a user gets when downloading the file: S3's status and the bytes."""
    response = client.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/download/", params)
    assert response.status_code == 302, response.content
    fetched = requests.get(response["Location"], timeout=10)
    return fetched.status_code, fetched.content


class InThread(threading.Thread):
    """Run `target` in a thread with its own database connection, keeping what it returned
    or raised for `outcome()` (tests of races; they need `transactional_db`)."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self._call, self.result, self.error = target, None, None

    def run(self):
        try:
            self.result = self._call()
        except BaseException as exc:  # noqa: BLE001 - raised again by outcome()
            self.error = exc
        finally:
            connection.close()

    def outcome(self):
        self.join(60)
        assert not self.is_alive(), "thread still running"
        if self.error is not None:
            raise self.error
        return self.result


def all_past(monkeypatch, module, check: str, *calls) -> list:
    """Run `calls` in threads that all get past `module.<check>` before any goes on (the race
    a check followed by a write can lose); returns what each returned, in order."""
    together = threading.Barrier(len(calls), timeout=30)
    real_check = getattr(module, check)

    def checked_together(**kwargs):
        result = real_check(**kwargs)
        together.wait()
        return result

    monkeypatch.setattr(module, check, checked_together)
    threads = [InThread(call) for call in calls]
    for thread in threads:
        thread.start()
    return [thread.outcome() for thread in threads]


def wait_until(condition, *, what: str, timeout: float = 30) -> None:
    """Wait for another thread to reach a state (blocked on a lock, finished), polling it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def lock_waiters(kind: str | None = None) -> int:
    """Sessions of this database waiting for a lock (`advisory`, `tuple`, `transactionid`, ...)."""
    with connection.cursor() as cursor:
        # Activity is read once per transaction otherwise.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND (%s::text IS NULL OR wait_event = %s)",
            [kind, kind],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """`with after_commit():` also runs what the block deferred until commit (deleting purged
    objects, staged uploads), which a test's own transaction never reaches."""
    return functools.partial(django_capture_on_commit_callbacks, execute=True)


@pytest.fixture
def corpus_manifest() -> dict:
    return json.loads((CORPUS / "MANIFEST.json").read_text())
