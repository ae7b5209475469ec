"""A real Celery worker killed with SIGKILL mid-task: the task comes back and finishes once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from files.models import File, Rendition
from tests.files.conftest import upload
from tests.helpers import CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mediaportal", "worker", "-Q", "processing", "--concurrency=1",
         "--without-mingle", "--without-gossip", "-n", f"crashtest-{time.monotonic_ns()}@%h", "--loglevel=WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(os.environ.get("MP_WORKER_LOG", os.devnull), "a"),
        start_new_session=True,
    )  # fmt: skip


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkilled_worker_task_is_redelivered_and_completes_once(editor, tenant, tmp_path):
    db = connection.settings_dict
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),  # where the workers' downloads go, to see what is left
        "DATABASE_URL": f"postgresql://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}",
        "CELERY_VISIBILITY_TIMEOUT": "3",
        "CELERY_RESTORE_INTERVAL": "1",
        "CELERY_RESTORE_THROTTLE": "1",
    }
    # Build the label model once up front, so the kill lands in processing, not in model start-up.
    subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from files.services.processing_run import labels_warm_up; labels_warm_up()"],
        cwd=settings.BASE_DIR, env={**env, "DJANGO_SETTINGS_MODULE": "mediaportal.settings"}, check=False,
    )  # fmt: skip
    first = _worker(env)
    try:
        photo = CORPUS / "large_dimension" / "jolla.jpg"
        file_id = upload(editor, tenant, "jolla.jpg", photo.read_bytes()).json()["id"]
        _wait(lambda: File.objects.get(pk=file_id).status != "pending", 60, "the task to start")
        assert File.objects.get(pk=file_id).status == "processing", File.objects.get(pk=file_id).error
        # The run has its download (it stays until the file is processed): kill it now.
        _wait(lambda: list(tmp_path.glob("mp-proc-*")), 30, "the download to start")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        assert File.objects.get(pk=file_id).status == "processing"
        left = list(tmp_path.glob("mp-proc-*"))
        assert len(left) == 1, left  # the killed run's download, whole or in part
        second = _worker(env)
        try:
            _wait(lambda: File.objects.get(pk=file_id).status == "completed", 90, "the redelivered task to finish")
            # The new worker removed it as it started; its own run removed its own copy.
            assert list(tmp_path.glob("mp-proc-*")) == []
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    file = File.objects.get(pk=file_id)
    renditions = Rendition.objects.filter(blob__tenant=tenant, blob__sha256=file.sha256)
    kinds = sorted((r.kind, r.format) for r in renditions)
    assert len(kinds) == len(set(kinds)) == 7  # three sizes × two formats + optimized, once each
