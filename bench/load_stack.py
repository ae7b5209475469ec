"""`manage.py up` as a bench target: started in a folder of its own, its processes found by
role, and stopped as Ctrl-C stops it (or killed, with every service it started, when that
fails), so a bench never leaves anything running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from mediaportal.embedded import port_is_free

ROOT = Path(__file__).resolve().parent.parent

# What `up` must not inherit: a test run's services and key (it starts and makes its own).
SERVICE_VARS = (
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ENDPOINT_URL",
    "MEDIAPORTAL_VAR_DIR",
    "MEDIAPORTAL_TEST_STACK_READY",
    "SECRET_KEY",
    "CELERY_BROKER_URL",
)

ROLES = ("web", "worker", "beat", "postgres", "redis", "s3")


def free_port(start: int = 18600) -> int:
    return next(port for port in range(start, start + 200) if port_is_free(port))


def up_env(*, var_dir: Path, port: int, web_workers: int | None, threads: int | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and not k.startswith(("S3_", "EMBEDDED_"))}
    env.update(MEDIAPORTAL_VAR_DIR=str(var_dir), PORT=str(port), PYTHONUNBUFFERED="1")
    if web_workers:
        env["WEB_CONCURRENCY"] = str(web_workers)
    if threads:
        env["WEB_THREADS"] = str(threads)
    return env


def _role(proc: psutil.Process, var_dir: Path) -> str | None:
    try:
        cmdline = " ".join(proc.cmdline())
        name = proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    if "gunicorn" in cmdline:
        return "web"
    if "celery" in cmdline:
        return "beat" if " beat" in cmdline else "worker"
    if str(var_dir) in cmdline:
        for role, marker in (("postgres", "postgres"), ("redis", "redis"), ("s3", "weed")):
            if marker in name:
                return role
    return None


@dataclass
class UpStack:
    """One `manage.py up`, its output in `var_dir/up.log`."""

    var_dir: Path
    port: int
    web_workers: int | None = None
    threads: int | None = None
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        env = up_env(var_dir=self.var_dir, port=self.port, web_workers=self.web_workers, threads=self.threads)
        with open(self.var_dir / "up.log", "ab") as log:
            # A session of its own, so a signal to ours never reaches it unasked; stop() signals it.
            self.proc = subprocess.Popen(
                [sys.executable, "manage.py", "up"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"`manage.py up` exited with {self.proc.returncode}:\n{self.log_tail()}")
            if "MediaPortal is running at" in self.log_tail(4000):
                return
            time.sleep(0.5)
        raise RuntimeError(f"`manage.py up` did not start within {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.var_dir / "up.log", "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - chars))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def processes(self) -> dict[str, list[psutil.Process]]:
        """The stack's live processes by role: web (gunicorn master and workers), worker (Celery
        and its pool), beat, and the embedded services with their children (PostgreSQL's backends)."""
        found: dict[str, list[psutil.Process]] = {role: [] for role in ROLES}
        seen: set[int] = set()
        roots = [p for p in psutil.process_iter() if _role(p, self.var_dir) in ("postgres", "redis", "s3")]
        if self.proc is not None and self.proc.poll() is None:
            roots += psutil.Process(self.proc.pid).children()
        for root in roots:
            role = _role(root, self.var_dir)
            if role is None or root.pid in seen:
                continue
            try:
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in family:
                if proc.pid not in seen:
                    seen.add(proc.pid)
                    found[role].append(proc)
        return found

    def _leftovers(self) -> list[psutil.Process]:
        family = [p for group in self.processes().values() for p in group]
        if self.proc is not None:
            try:
                family += psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                pass
        return family

    def stop(self, timeout: float = 60) -> None:
        """Ctrl-C, as a terminal sends it; whatever is still running after `timeout` is killed."""
        if self.proc is None:
            return
        leftovers = self._leftovers()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for proc in leftovers + self._leftovers():
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    proc.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc = None


def wait_ready(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/readyz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base}/readyz did not answer 200 within {timeout:.0f} s")


@dataclass
class Usage:
    """Memory (RSS, bytes) and CPU time (s) per role at one moment.

    A process's CPU time here includes that of its children that have exited (PostgreSQL's
    backends come and go with connections, and their parent collects their times), so the
    difference between two samples counts every process that ran in between."""

    rss: dict[str, int]
    cpu: dict[str, float]

    @classmethod
    def sample(cls, stack: UpStack) -> Usage:
        rss = dict.fromkeys(ROLES, 0)
        cpu = dict.fromkeys(ROLES, 0.0)
        for role, procs in stack.processes().items():
            for proc in procs:
                try:
                    with proc.oneshot():
                        rss[role] += proc.memory_info().rss
                        times = proc.cpu_times()
                        cpu[role] += times.user + times.system + times.children_user + times.children_system
                except psutil.NoSuchProcess:
                    pass
        return cls(rss=rss, cpu=cpu)


def cpu_between(start: Usage, end: Usage, *, include_self: tuple[float, float] | None = None) -> dict[str, float]:
    """CPU seconds per role between two samples."""
    spent = {role: end.cpu[role] - start.cpu[role] for role in ROLES}
    if include_self is not None:
        spent["load generator"] = include_self[1] - include_self[0]
    return spent


def own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system
