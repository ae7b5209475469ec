"""Redis (cache, sessions, the Celery broker) frozen and stopped during uploads, through a
real web process: uploads are still accepted at once, and what could not be queued is
queued by the stale-processing sweep once Redis is back."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time

import pytest
import redis
from django.conf import settings

from files.models import File
from mediaportal.embedded import EmbeddedStack
from tests.e2e.web import Api, database_url, frozen, web_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def disposable_redis(tmp_path_factory):
    """A Redis of the test's own (the web process's cache, sessions and broker)."""
    stack = EmbeddedStack(var_dir=tmp_path_factory.mktemp("redis"), log=lambda line: None)
    stack.start(postgres=False, redis=True, s3=False)
    yield stack
    stack.stop()


def queued_file_ids(redis_url: str) -> list[str]:
    """The files whose processing waits in the broker's `processing` queue."""
    client = redis.Redis(unix_socket_path=redis_url.removeprefix("unix://"), db=0)
    ids = []
    for raw in client.lrange("processing", 0, -1):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        ids.append(args[0])
    return ids


def requeue_stale(env: dict[str, str]) -> str:
    """The stale-processing sweep (what beat runs every few minutes), now, from a process
    of its own that queues into the test's Redis."""
    code = (
        "import django; django.setup()\n"
        "from datetime import timedelta\n"
        "from files.services.processing import processing_requeue_stale\n"
        "print(processing_requeue_stale(older_than=timedelta(0)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "mediaportal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_frozen_or_stopped_redis_never_holds_an_upload_and_the_sweep_queues_it(
    editor, tenant, disposable_redis, tmp_path
):
    redis_url = disposable_redis.env["REDIS_URL"]
    with web_server(tmp_path, env={"REDIS_URL": redis_url}) as web:
        api = Api(web, editor, tenant)
        first = api.upload("first.txt", b"queued at once")
        assert first.status_code == 201, first.text
        assert queued_file_ids(redis_url) == [first.json()["id"]]

        with frozen(disposable_redis.pid("redis")):
            started = time.monotonic()
            held = api.upload("while-frozen.txt", b"queued later", timeout=30)
            elapsed_frozen = time.monotonic() - started
        assert held.status_code == 201, held.text
        assert elapsed_frozen < 5, elapsed_frozen

        disposable_redis.stop()
        started = time.monotonic()
        down = api.upload("while-down.txt", b"queued later too", timeout=30)
        elapsed_down = time.monotonic() - started
        assert down.status_code == 201, down.text
        assert elapsed_down < 5, elapsed_down

        disposable_redis.start(postgres=False, redis=True, s3=False)  # the same socket and data
        assert api.get("files/").status_code == 200
    acknowledged = {first.json()["id"], held.json()["id"], down.json()["id"]}
    assert set(map(str, File.objects.filter(tenant=tenant).values_list("id", flat=True))) == acknowledged
    assert File.objects.filter(tenant=tenant, status="pending").count() == 3
    # The first survived the restart; the one sent while Redis was down never reached it. The
    # publish that timed out may have landed once Redis thawed (it is not known, and the
    # task is idempotent).
    queued = queued_file_ids(redis_url)
    assert first.json()["id"] in queued and down.json()["id"] not in queued

    sweep_env = {"DATABASE_URL": database_url(), "REDIS_URL": redis_url}
    assert requeue_stale({**os.environ, **sweep_env}) == "3"  # every file still pending
    assert set(queued_file_ids(redis_url)) == acknowledged
