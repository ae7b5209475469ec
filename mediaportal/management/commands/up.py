"""`manage.py up`: the whole portal on one machine, in one command.

Starts whatever the environment does not configure (PostgreSQL, Redis, S3) under
`var/`, migrates, makes sure a first admin and tenant exist, then runs the web server,
one Celery worker and Celery beat as child processes until Ctrl-C or SIGTERM, when it
stops every child and every service it started.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mediaportal.embedded import AlreadyRunning, EmbeddedStack, StackError, port_is_free


class Command(BaseCommand):
    help = "Start the embedded services (when not configured), migrate, and run web, worker and beat."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dev",
            action="store_true",
            help="Reload the web server when code changes (restart `up` for the worker and beat to pick changes up).",
        )
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        # Four processes of two threads: a request's Python holds its process's GIL, and with
        # four threads in each of two processes requests queued behind each other's Python
        # while the cores had time to spare (docs/benchmarks.md, load, third round).
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "4")))
        parser.add_argument("--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", "2")))
        parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "2")))
        # On one machine the web tier and the worker share the cores. Processing can wait a few
        # hundred ms; a person waiting on a page should not: the worker and beat run at a lower
        # CPU priority and take what the web tier leaves idle.
        parser.add_argument("--worker-nice", type=int, default=int(os.environ.get("WORKER_NICE", "10")))

    def handle(self, *args, **options) -> None:
        self._stopping = False
        self._children: list[tuple[str, subprocess.Popen]] = []
        port, host = options["port"], options["host"]
        stack = EmbeddedStack(var_dir=settings.VAR_DIR, log=self.stdout.write)
        # First, so a second `up` in this folder says so (instead of "port in use") and never
        # touches the services of the one that is running.
        try:
            stack.claim()
        except AlreadyRunning as exc:
            raise CommandError(str(exc)) from None
        if not port_is_free(port, host):
            raise CommandError(
                f"Port {port} on {host} is already in use. Stop what is using it, or run with PORT=<another port>."
            )

        _empty_metrics_dir(Path(settings.PROMETHEUS_MULTIPROC_DIR))
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        started = time.monotonic()
        Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
        wanted = {
            "postgres": not os.environ.get("DATABASE_URL"),
            "redis": not os.environ.get("REDIS_URL"),
            "s3": not os.environ.get("S3_ENDPOINT_URL"),
        }
        try:
            if any(wanted.values()):
                self.stdout.write(f"Starting embedded services under {settings.VAR_DIR} ...")
            env = {**os.environ, **stack.start(**wanted, cors_origins=_portal_origins(host, port)), "PORT": str(port)}
            env.setdefault("SITE_URL", f"http://{host}:{port}")
            self._run_step(["migrate", "--noinput", "-v", "0"], env, "Migrating the database")
            self._run_step(["bootstrap"], env, "Checking the first admin and tenant", show_output=True)
            self._start_children(env, options)
            url = f"http://{host}:{port}"
            self._wait_ready(url, started)
            self.stdout.write(self.style.SUCCESS(f"\nMediaPortal is running at {url}/"))
            self.stdout.write(f"  portal {url}/   admin {url}/admin/   API docs {url}/api/docs/   health {url}/readyz")
            if not settings.EMAIL_URL:
                # No SMTP server: verification links, resets and invitations are files to open.
                self.stdout.write(f"  mail is written to {settings.EMAIL_FILE_PATH}/ (set EMAIL_URL to send it)")
            self.stdout.write("  Press Ctrl-C to stop everything.\n")
            self._supervise()
        except KeyboardInterrupt:
            pass
        except StackError as exc:
            raise CommandError(str(exc)) from None
        except subprocess.CalledProcessError as exc:
            raise CommandError(
                f"A start-up step failed: {' '.join(map(str, exc.cmd[1:]))} (exit {exc.returncode})."
            ) from None
        finally:
            self._stop_children()
            stack.stop()
            self.stdout.write("Stopped.")

    def _on_signal(self, signum, frame) -> None:
        if not self._stopping:
            self._stopping = True
            self.stdout.write("\nStopping ...")
            raise KeyboardInterrupt

    def _manage(self) -> list[str]:
        return [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]

    def _run_step(self, args: list[str], env: dict, label: str, show_output: bool = False) -> None:
        self.stdout.write(f"{label} ...")
        result = subprocess.run(self._manage() + args, env=env, cwd=settings.BASE_DIR, capture_output=True, text=True)
        if result.returncode != 0:
            self.stderr.write(result.stdout + result.stderr)
            raise subprocess.CalledProcessError(result.returncode, self._manage() + args)
        if show_output and result.stdout.strip():
            self.stdout.write(result.stdout.rstrip())

    def _start_children(self, env: dict, options: dict) -> None:
        bin_dir = Path(sys.executable).parent
        web = [
            str(bin_dir / "gunicorn"),
            "mediaportal.wsgi:application",
            f"--bind={options['host']}:{options['port']}",
            f"--workers={options['web_workers']}",
            "--worker-class=gthread",
            f"--threads={options['web_threads']}",
            "--timeout=120",
            "--access-logfile=-",
            "--logger-class=mediaportal.logs.GunicornLogger",
            "--config=python:mediaportal.gunicorn_conf",
            "--no-control-socket",
        ]
        worker = [
            str(bin_dir / "celery"),
            "-A",
            "mediaportal",
            "worker",
            "-Q",
            "processing,maintenance,replication,webhooks",
            f"--concurrency={options['worker_concurrency']}",
            "--loglevel=INFO",
            "-n",
            "worker@%h",
        ]
        beat = [
            str(bin_dir / "celery"),
            "-A",
            "mediaportal",
            "beat",
            "--loglevel=INFO",
            "-s",
            str(settings.VAR_DIR / "celerybeat"),
        ]
        if options["dev"]:
            web.append("--reload")
        lower = functools.partial(os.nice, options["worker_nice"])
        for name, cmd, priority in (("web", web, None), ("worker", worker, lower), ("beat", beat, lower)):
            # A session of their own, so a terminal's Ctrl-C reaches only us and we stop them in order.
            proc = subprocess.Popen(cmd, env=env, cwd=settings.BASE_DIR, start_new_session=True, preexec_fn=priority)
            self._children.append((name, proc))

    def _wait_ready(self, url: str, started: float) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, proc in self._children:
                if proc.poll() is not None:
                    raise CommandError(f"The {name} process exited with code {proc.returncode} while starting.")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=5) as response:
                    if response.status == 200:
                        self.stdout.write(f"Ready in {time.monotonic() - started:.1f} s.")
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise CommandError(f"The portal did not become ready within 60 s; see {url}/readyz.")

    def _supervise(self) -> None:
        while True:
            for name, proc in self._children:
                if proc.poll() is not None:
                    raise CommandError(f"The {name} process exited unexpectedly (code {proc.returncode}).")
            time.sleep(0.5)

    def _stop_children(self) -> None:
        # Ignore further signals while shutting down, so a second Ctrl-C cannot orphan anything.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for _name, proc in reversed(self._children):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, proc in self._children:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._children.clear()


def _empty_metrics_dir(path: Path) -> None:
    """Start the metrics of this run from zero: the files of an earlier run's processes would
    be summed with this one's (mediaportal.metrics), and pids come round again. Only the
    metric files go, in case PROMETHEUS_MULTIPROC_DIR names a folder that holds others."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


def _portal_origins(host: str, port: int) -> list[str] | None:
    """The origins the portal's pages come from, which may PUT upload parts to the embedded
    S3 (None: $S3_CORS_ORIGINS or any, when the portal listens on every address)."""
    if os.environ.get("S3_CORS_ORIGINS") or host in ("0.0.0.0", "::"):
        return None
    names = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
    origins = {f"http://{name}:{port}" for name in names}
    if os.environ.get("SITE_URL"):
        scheme, _, rest = os.environ["SITE_URL"].partition("://")
        origins.add(f"{scheme}://{rest.split('/', 1)[0]}")
    return sorted(origins)
