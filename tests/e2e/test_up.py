"""`manage.py up` end to end: the real launcher, its services and its children."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from mediaportal.embedded import port_is_free

pytestmark = pytest.mark.slow

# What `up` must not inherit from the test run: the run's services, and its throwaway key
# (so `up` makes its own in var/, as on a fresh checkout).
SERVICE_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ENDPOINT_URL",
    "MEDIAPORTAL_VAR_DIR",
    "MEDIAPORTAL_TEST_STACK_READY",
    "SECRET_KEY",
)


def _free_port() -> int:
    for port in range(18100, 18200):
        if port_is_free(port):
            return port
    raise RuntimeError("no free port")


def _env(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and not k.startswith(("S3_", "EMBEDDED_"))}
    env.update(MEDIAPORTAL_VAR_DIR=str(var_dir), PORT=str(port), MEDIAPORTAL_ADMIN_PASSWORD="first login pass 42")
    return env


def _start(var_dir: Path, port: int) -> tuple[subprocess.Popen, list[str]]:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "up", "--web-workers=1", "--worker-concurrency=1"],
        cwd=settings.BASE_DIR,
        env=_env(var_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "MediaPortal is running at" in line:
            return proc, lines
    _kill(proc, var_dir)
    raise AssertionError("up did not start:\n" + "".join(lines))


def _services(var_dir: Path) -> set[int]:
    return {p.pid for p in psutil.process_iter(["cmdline"]) if str(var_dir) in " ".join(p.info["cmdline"] or [])}


def _descendants_and_services(proc: subprocess.Popen, var_dir: Path) -> set[int]:
    return {child.pid for child in psutil.Process(proc.pid).children(recursive=True)} | _services(var_dir)


def _kill(proc: subprocess.Popen, var_dir: Path) -> None:
    """After a failure: kill the launcher's group and the services it started, so none outlive the test."""
    pids = _descendants_and_services(proc, var_dir)
    for pid in pids | {proc.pid}:
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait(timeout=30)


def _stop(proc: subprocess.Popen) -> str:
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    out, _ = proc.communicate(timeout=60)
    return out


def _names(pids: set[int]) -> dict[int, str]:
    """The process names of those pids still running; a short-lived child may exit while we look."""
    names = {}
    for pid in pids:
        try:
            names[pid] = psutil.Process(pid).name()
        except psutil.NoSuchProcess:
            pass
    return names


def _priorities(pids: set[int]) -> dict[str, set[int]]:
    """The nice values of the web server's and the worker's and beat's processes."""
    found: dict[str, set[int]] = {}
    for pid in pids:
        try:
            p = psutil.Process(pid)
            name = next((n for n in ("gunicorn", "celery") if n in " ".join(p.cmdline())), None)
            if name:
                found.setdefault(name, set()).add(p.nice())
        except psutil.NoSuchProcess:
            pass
    return found


def _alive(pids: set[int]) -> list[str]:
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {' '.join(p.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


def _upload_and_wait_for_processing(port: int) -> None:
    """The whole path through real processes: API upload → worker → renditions in S3."""
    import requests

    from tests.helpers import CORPUS

    base = f"http://127.0.0.1:{port}/api/v1"
    token = requests.post(
        f"{base}/auth/login/", json={"username": "admin", "password": "first login pass 42"}, timeout=10
    ).json()["token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    photo = CORPUS / "photo_exif" / "court-exif.jpg"
    created = session.post(
        f"{base}/tenants/default/files/", files={"file": (photo.name, photo.read_bytes())}, timeout=30
    )
    assert created.status_code == 201, created.text
    url = f"{base}/tenants/default/files/{created.json()['id']}/"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = session.get(url, timeout=10).json()
        if body["status"] in ("completed", "failed"):
            break
        time.sleep(0.3)
    assert body["status"] == "completed", body
    assert body["metadata"]["camera_model"] == "NIKON D2H"
    assert {label["name"] for label in body["labels"]}
    thumbnail = requests.get(body["renditions"]["thumbnail"], timeout=10)
    assert thumbnail.status_code == 200 and thumbnail.content[:4] == b"RIFF"


def _registration_mail_is_a_file_under_var(port: int, var_dir: Path) -> None:
    """With no SMTP configured, the verification mail is a file a local user can open."""
    import requests

    answer = requests.post(
        f"http://127.0.0.1:{port}/api/v1/auth/register/",
        json={"username": "newcomer", "email": "newcomer@example.com", "password": "a long enough secret 1"},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    mails = [path.read_text() for path in (var_dir / "mail").glob("*.log")]
    assert any(
        "newcomer@example.com" in text and f"http://127.0.0.1:{port}/accounts/confirm-email/" in text for text in mails
    ), mails


def test_up_serves_the_portal_and_ctrl_c_leaves_nothing_running(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    proc, lines = _start(var_dir, port)
    try:
        output = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in output
        assert "First login: admin" in output
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
            body = json.load(response)
        assert response.status == 200 and body["failing"] == []
        _upload_and_wait_for_processing(port)
        _registration_mail_is_a_file_under_var(port, var_dir)
        pids = _descendants_and_services(proc, var_dir)
        names = " ".join(_names(pids).values())
        for expected in ("postgres", "redis-server", "weed", "gunicorn", "celery"):
            assert expected in names, (expected, names)
        assert _priorities(pids) == {"gunicorn": {os.nice(0)}, "celery": {min(os.nice(0) + 10, 19)}}
    except BaseException:
        _kill(proc, var_dir)
        raise
    out = _stop(proc)
    assert proc.returncode == 0, out
    assert "Stopped." in out
    assert _alive(pids) == [], out

    # A second start reuses the data: the admin from the first run is still there.
    proc, lines = _start(var_dir, port)
    try:
        output = "".join(lines)
        assert "Created user" not in output and "First login: admin" in output
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/auth/login/",
            data=json.dumps({"username": "admin", "password": "first login pass 42"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        pids = _descendants_and_services(proc, var_dir)
    finally:
        out = _stop(proc)
    assert _alive(pids) == [], out


def _readyz(port: int) -> tuple[int, dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response:
        return response.status, json.load(response)


def test_a_second_up_in_the_same_folder_refuses_and_leaves_the_first_running(tmp_path):
    var_dir = tmp_path / "var"
    port = _free_port()
    proc, _lines = _start(var_dir, port)
    try:
        pids = _descendants_and_services(proc, var_dir)
        # The long-lived service processes, named by their folder (not PostgreSQL's
        # backends, which come and go with connections).
        services = {
            pid for pid, name in _names(_services(var_dir)).items() if name in ("postgres", "redis-server", "weed")
        }
        # Two S3 servers: the primary region and the replica region.
        assert sorted(_names(services).values()) == ["postgres", "redis-server", "weed", "weed"], _names(services)
        # `make run` again in the same checkout, and `PORT=… make run` there.
        for second_port in (port, _free_port()):
            second = subprocess.run(
                [sys.executable, "manage.py", "up"],
                cwd=settings.BASE_DIR,
                env=_env(var_dir, second_port),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert second.returncode != 0
            message = "MediaPortal is already running from this folder"
            assert f"{message} (pid {proc.pid}) — stop it first or set MEDIAPORTAL_VAR_DIR" in second.stderr
            assert "Traceback" not in second.stderr and "Starting embedded services" not in second.stdout
            # The first one's Redis and S3 (and the rest) are untouched.
            status, body = _readyz(port)
            assert status == 200 and body["failing"] == []
            assert len(_alive(services)) == len(services)
    except BaseException:
        _kill(proc, var_dir)
        raise
    out = _stop(proc)
    assert proc.returncode == 0, out
    assert _alive(pids) == [], out


def test_busy_port_gives_a_clear_message(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "up"],
            cwd=settings.BASE_DIR,
            env=_env(tmp_path / "var", port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "pg").exists()  # nothing was started
