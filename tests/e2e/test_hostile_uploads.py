"""The hostile set through real processes: gunicorn takes the uploads, a Celery worker
processes them. Every upload gets its clear outcome, neither process dies, and neither grows
past a stated peak resident size, sampled while they work and read from the kernel's
high-water mark (VmHWM) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import psutil
import pytest
import requests
from django.conf import settings
from django.db import connection

from accounts.models import Role
from accounts.services.users import token_create
from tests.factories import MembershipFactory
from tests.files.processing import hostile
from tests.helpers import CORPUS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Peak resident size of any one process. At rest here: the gunicorn worker about 110 MB, the
# Celery pool process about 230 MB (Django, PDFium, OpenCV, onnxruntime and the label model).
# Reading one of the bombs whole would pass these by far: the OpenDocument whose mimetype
# inflates to 1 GiB in the web process, the OLE stream declaring 1 GiB in the worker.
WEB_PEAK_BYTES = 200 * 1024**2
WORKER_PEAK_BYTES = 400 * 1024**2
SOFT_TIME_LIMIT = 5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _environment(tmp_path: Path) -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "DATABASE_URL": f"postgresql://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}",
        "PROCESSING_SOFT_TIME_LIMIT": str(SOFT_TIME_LIMIT),
        "PROCESSING_TIME_LIMIT": str(2 * SOFT_TIME_LIMIT),
        "PROCESSING_MAX_XML_ELEMENTS": str(hostile.XML_ELEMENTS_LIMIT),
    }


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command,
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,
    )


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _high_water_mark(process: psutil.Process) -> int:
    try:
        status = Path(f"/proc/{process.pid}/status").read_text()
    except OSError:
        return 0
    line = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) * 1024


class PeakResidentSize(threading.Thread):
    """The largest resident size any process of each tree reached, sampled every 50 ms."""

    def __init__(self, roots: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.roots, self.peaks, self._done = roots, dict.fromkeys(roots, 0), threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.05):
            self._sample(lambda process: process.memory_info().rss)

    def _sample(self, measure) -> None:
        for role, pid in self.roots.items():
            for process in _tree(pid):
                try:
                    self.peaks[role] = max(self.peaks[role], measure(process))
                except psutil.NoSuchProcess:
                    continue

    def finish(self) -> dict[str, int]:
        self._done.set()
        self.join(5)
        self._sample(_high_water_mark)  # what happened between samples, in the processes still alive
        return self.peaks


def _wait_ready(base: str, web: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert web.poll() is None, "gunicorn exited while starting"
        try:
            if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError("gunicorn did not become ready")


def _outcomes(session: requests.Session, files: str, uploaded: dict[str, dict]) -> dict[str, dict]:
    """Each uploaded file's JSON once it is completed or failed."""
    final: dict[str, dict] = {}
    deadline = time.monotonic() + 120
    while len(final) < len(uploaded) and time.monotonic() < deadline:
        for label, created in uploaded.items():
            if label not in final:
                body = session.get(f"{files}{created['id']}/", timeout=10).json()
                if body["status"] in ("completed", "failed"):
                    final[label] = body
        time.sleep(0.3)
    return final


def _start_stack(env: dict[str, str], port: int, logs: Path) -> tuple[subprocess.Popen, subprocess.Popen]:
    """gunicorn (one process, as `up` runs it) and a Celery worker of one pool process."""
    bin_dir = Path(sys.executable).parent
    web = _start(
        [str(bin_dir / "gunicorn"), "mediaportal.wsgi:application", f"--bind=127.0.0.1:{port}", "--workers=1",
         "--worker-class=gthread", "--threads=2", "--timeout=60", "--no-control-socket"],
        env, logs / "web.log",
    )  # fmt: skip
    worker = _start(
        [sys.executable, "-m", "celery", "-A", "mediaportal", "worker", "-Q", "processing", "--concurrency=1",
         "--without-mingle", "--without-gossip", "-n", f"hostile-{time.monotonic_ns()}@%h", "--loglevel=WARNING"],
        env, logs / "worker.log",
    )  # fmt: skip
    return web, worker


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def _post(session: requests.Session, files: str, name: str, data: bytes) -> requests.Response:
    body, content_type = hostile.multipart(name, data)
    return session.post(files, data=body, headers={"Content-Type": content_type}, timeout=30)


def test_hostile_uploads_through_real_processes(tenant, tmp_path):
    membership = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    _token, key = token_create(user=membership.user, name="e2e")
    (tmp_path / "set").mkdir()
    cases = hostile.hostile_set(tmp_path / "set", CORPUS)
    port = _free_port()
    web, worker = _start_stack(_environment(tmp_path), port, tmp_path)
    peaks = PeakResidentSize({"web": web.pid, "worker": worker.pid})
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, web)
        peaks.start()
        session = requests.Session()
        session.headers["Authorization"] = f"Token {key}"
        files = f"{base}/api/v1/tenants/{tenant.slug}/files/"
        responses = {case.label: _post(session, files, case.name, case.data) for case in cases}
        uploaded = {label: response.json() for label, response in responses.items() if response.status_code == 201}
        final = _outcomes(session, files, uploaded)
        # Both still serve: one more upload is stored and processed.
        last = _post(session, files, "after.txt", b"written after the hostile set\n").json()
        after = _outcomes(session, files, {"after": last}).get("after", {}).get("status")
        alive = {"web": web.poll() is None, "worker": worker.poll() is None}
        peak = peaks.finish()
    finally:
        _stop(web, worker)

    problems = [
        f"{case.label}: no outcome within two minutes"
        if case.label in uploaded and case.label not in final
        else hostile.judge(case, responses[case.label].status_code, responses[case.label].json(), final.get(case.label))
        for case in cases
    ]
    print(f"peak resident size: web {peak['web'] / 1024**2:.0f} MB, worker {peak['worker'] / 1024**2:.0f} MB")
    assert [problem for problem in problems if problem] == []
    assert alive == {"web": True, "worker": True}
    assert after == "completed", "an upload after the hostile set was not processed"
    assert peak["web"] < WEB_PEAK_BYTES, f"web {peak['web']:,} bytes"
    assert peak["worker"] < WORKER_PEAK_BYTES, f"worker {peak['worker']:,} bytes"
