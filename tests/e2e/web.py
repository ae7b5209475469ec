"""A real web process (gunicorn, as `manage.py up` runs it) against the test run's services,
or against services of a test's own that it stops, freezes or restarts.

The process reads the test database (tests using it need `transactional_db`), so what a
test creates (users, tokens, tenants) is what the server sees, and what the server stores
is what the test asserts on.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import requests
from django.conf import settings
from django.db import connection

BOUNDARY = "e2e-fault-boundary-Zq81"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict | None = None) -> str:
    db = settings_dict or connection.settings_dict
    return f"postgresql://{db['USER']}@{quote(db['HOST'], safe='')}/{db['NAME']}"


def s3_env(stack_env: dict[str, str]) -> dict[str, str]:
    """The environment that points every bucket role at the S3 servers of the test's own
    (the replica on the same server unless the stack runs a replica region)."""
    return {
        "S3_REPLICA_ENDPOINT_URL": stack_env["S3_ENDPOINT_URL"],
        "S3_REPLICA_ACCESS_KEY_ID": stack_env["S3_ACCESS_KEY_ID"],
        "S3_REPLICA_SECRET_ACCESS_KEY": stack_env["S3_SECRET_ACCESS_KEY"],
        **stack_env,
        "S3_PUBLIC_ENDPOINT_URL": stack_env["S3_ENDPOINT_URL"],
    }


@dataclass
class WebServer:
    proc: subprocess.Popen
    url: str
    port: int
    log: Path
    spool: Path  # its TMPDIR, where upload bodies are spooled

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


@contextlib.contextmanager
def web_server(
    tmp_path: Path, *, env: dict[str, str] | None = None, wrap: list[str] | None = None
) -> Iterator[WebServer]:
    """gunicorn with one worker of four threads, like `up` runs it; `env` overrides the test
    run's services, `wrap` is a command line to start it under (e.g. `unshare …`)."""
    port = free_port()
    spool = tmp_path / "web-tmp"
    spool.mkdir(exist_ok=True)
    full_env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TMPDIR": str(spool),
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    command = [
        sys.executable, "-m", "gunicorn", "mediaportal.wsgi:application", f"--bind=127.0.0.1:{port}",
        "--workers=1", "--worker-class=gthread", "--threads=4", "--timeout=120", "--no-control-socket",
    ]  # fmt: skip
    log = tmp_path / f"web-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*(wrap or []), *command],
            cwd=settings.BASE_DIR,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = WebServer(proc=proc, url=f"http://127.0.0.1:{port}", port=port, log=log, spool=spool)
    try:
        _wait_healthy(server)
        yield server
    finally:
        server.stop()


def _wait_healthy(server: WebServer, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(f"the web process exited:\n{server.output()}")
        try:
            if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"the web process did not answer within {timeout:.0f} s:\n{server.output()}")


@contextlib.contextmanager
def frozen(pid: int) -> Iterator[None]:
    """The process group stopped with SIGSTOP: it keeps its sockets, answers nothing."""
    os.killpg(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(pid, signal.SIGCONT)


def api_token(client) -> str:
    """The key of an APIClient made by tests.helpers.client_for."""
    return client._credentials["HTTP_AUTHORIZATION"].split()[1]


class Api:
    """A client of the real server's API for one tenant, as a user with a token."""

    def __init__(self, server: WebServer, client, tenant) -> None:
        self.base = f"{server.url}/api/v1/tenants/{tenant.slug}/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {api_token(client)}"

    def upload(self, name: str, data: bytes, *, key: str | None = None, timeout: float = 60, **fields):
        headers = {"Idempotency-Key": key} if key else {}
        return self.session.post(
            self.base + "files/", files={"file": (name, data)}, data=fields, headers=headers, timeout=timeout
        )

    def get(self, path: str, **kwargs):
        return self.session.get(self.base + path, timeout=30, **kwargs)


def multipart(name: str, data: bytes) -> bytes:
    """A multipart body with one `file` part."""
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class RawUpload:
    """An upload sent by hand over one connection: the headers, then the body in as many
    pieces as the test wants, with pauses between them (a slow client, a fault injected
    mid-request)."""

    def __init__(self, server: WebServer, path: str, *, length: int, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        self.conn.putrequest("POST", path)
        self.conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        self.conn.putheader("Content-Length", str(length))
        for name, value in headers.items():
            self.conn.putheader(name, value)
        self.conn.endheaders()

    def send(self, data: bytes) -> None:
        self.conn.send(data)

    def response(self, timeout: float = 60) -> tuple[int, bytes, float]:
        """The status, body and seconds it took to arrive."""
        self.conn.sock.settimeout(timeout)
        started = time.monotonic()
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, time.monotonic() - started

    def close(self) -> None:
        self.conn.close()


def idempotency_key() -> str:
    return str(uuid.uuid4())
