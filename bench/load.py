"""Load and soak: a mixed workload against the stack `make run` starts, with locust.

Starts `manage.py up` in a folder of its own (its own embedded PostgreSQL, Redis and S3, on
a free port), prepares data through the API (a user and token, folders of corpus photos
and short notes, all processed, a share link to a folder of photos), then runs locust as a
library, headless, against 127.0.0.1: list a folder, search, a 100 KB upload, a download
redirect (302), a thumbnail redirect (302) and the share page, in fixed proportions. After
a warm-up that is left out of the figures it measures for `--duration` seconds and prints
requests/s and p50/p95/p99 per kind, the errors, the CPU each part of the stack used, and
the web (gunicorn) and worker (Celery) processes' memory at the start and end of the run.

The load generator runs on the same machine as the stack and takes its share of the cores.

    .venv/bin/python bench/load.py [--duration 600] [--users 20] [--rate 5] [--no-write]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import ClassVar

import gevent
import locust  # patches the standard library for gevent: before requests, psycopg2 and the project
import psutil
from locust import FastHttpUser, constant, task
from locust.env import Environment
from locust.stats import StatsEntry

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_data import WORDS, Corpus, Preparer, upload_body  # noqa: E402
from bench.load_stack import UpStack, Usage, cpu_between, free_port, own_cpu  # noqa: E402
from bench.report import write_section  # noqa: E402

BOUNDARY = "load-bench-7c1d9e0f2a"
KINDS = {"list": 20, "search": 20, "download": 20, "thumbnail": 20, "share page": 15, "upload": 5}
READS = [kind for kind in KINDS if kind != "upload"]
TARGET_RPS, TARGET_P99_MS, TARGET_DRIFT = 100, 250, 0.10


def poisson_throughput(rate: float):
    """A locust wait_time: each user's requests start as a Poisson process of `rate` per second
    (exponential gaps between scheduled starts), so that many users together arrive as many
    independent people would. locust's `constant_throughput` keeps users in step: users
    started 0.1 s apart at 5 requests/s each all send within two instants of every 0.2 s,
    ten requests at once. A user whose answer came after its next start begins at once, and
    its schedule starts again from then: like `constant_throughput`, it never sends a burst
    to catch up."""

    def wait_time(user) -> float:
        now = time.monotonic()
        scheduled = getattr(user, "next_start", now) + user.rng.expovariate(rate)
        user.next_start = max(scheduled, now)
        return user.next_start - now

    return wait_time


class Visitor(FastHttpUser):
    """One client of the portal; the tasks' weights are the workload's proportions (KINDS)."""

    corpus: ClassVar[Corpus]
    body: ClassVar[bytes] = b""
    wait_time = constant(0)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Token {self.corpus.token}"}
        self.rng = random.Random()

    def _expect(self, method: str, path: str, *, name: str, status: int, **kwargs) -> None:
        with self.client.request(method, path, name=name, catch_response=True, allow_redirects=False, **kwargs) as r:
            if r.status_code != status:
                r.failure(f"{r.status_code}: {(r.text or '')[:200]}")

    @task(KINDS["list"])
    def list_folder(self) -> None:
        folder = self.rng.choice(self.corpus.folder_ids)
        self._expect("GET", f"{self.corpus.api}/files/?folder={folder}", name="list", status=200, headers=self.auth)

    @task(KINDS["search"])
    def search(self) -> None:
        query = " ".join(self.rng.sample(WORDS, self.rng.choice((1, 1, 2))))
        self._expect("GET", f"{self.corpus.api}/search/?q={query}", name="search", status=200, headers=self.auth)

    @task(KINDS["download"])
    def download(self) -> None:
        file_id = self.rng.choice(self.corpus.photo_ids + self.corpus.note_ids)
        path = f"{self.corpus.api}/files/{file_id}/download/"
        self._expect("GET", path, name="download", status=302, headers=self.auth)

    @task(KINDS["thumbnail"])
    def thumbnail(self) -> None:
        path = f"{self.corpus.api}/files/{self.rng.choice(self.corpus.photo_ids)}/renditions/thumbnail/"
        self._expect("GET", path, name="thumbnail", status=302, headers=self.auth)

    @task(KINDS["share page"])
    def share_page(self) -> None:
        self._expect("GET", f"/s/{self.corpus.share_token}", name="share page", status=200)

    @task(KINDS["upload"])
    def upload(self) -> None:
        unique = uuid.uuid4().hex
        head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="folder"\r\n\r\n{self.corpus.inbox_id}\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="upload {unique}.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        )
        data = head.encode() + unique.encode() + b"\n" + self.body[33:] + f"\r\n--{BOUNDARY}--\r\n".encode()
        headers = {**self.auth, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        self._expect("POST", f"{self.corpus.api}/files/", name="upload", status=201, data=data, headers=headers)


def _row(name: str, entry: StatsEntry, seconds: float) -> dict:
    return {
        "kind": name,
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "rps": entry.num_requests / seconds,
        "p50": entry.get_response_time_percentile(0.50),
        "p95": entry.get_response_time_percentile(0.95),
        "p99": entry.get_response_time_percentile(0.99),
        "max": entry.max_response_time or 0,
    }


def summarize(env: Environment, seconds: float) -> tuple[list[dict], list[str]]:
    """Rows per kind, reads together and everything; the errors, most frequent first."""
    stats = env.stats
    reads = StatsEntry(stats, "reads", "", use_response_times_cache=False)
    rows = []
    for kind in KINDS:
        entry = next((e for e in stats.entries.values() if e.name == kind), None)
        if entry is None:
            entry = StatsEntry(stats, kind, "", use_response_times_cache=False)
        rows.append(_row(kind, entry, seconds))
        if kind in READS:
            reads.extend(entry)
    rows.append(_row("reads", reads, seconds))
    rows.append(_row("all", stats.total, seconds))
    errors = [
        f"{e.occurrences} × {e.method} {e.name}: {e.error}"
        for e in sorted(stats.errors.values(), key=lambda e: -e.occurrences)
    ]
    errors += [f"{e['count']} × exception {e['msg']}" for e in env.runner.exceptions.values()]
    return rows, errors


def measure(*, env: Environment, stack: UpStack, args: argparse.Namespace, log=print) -> dict:
    """Spawn the users, warm up, then measure for args.duration seconds."""
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate)
    gevent.sleep(args.warmup)
    env.stats.reset_all()
    runner.exceptions.clear()
    started, usage0, self0, machine0 = time.monotonic(), Usage.sample(stack), own_cpu(), psutil.cpu_times()
    memory = [(0.0, usage0.rss)]
    log(f"measuring for {args.duration:.0f} s ...")
    while (left := args.duration - (time.monotonic() - started)) > 0:
        gevent.sleep(min(30.0, left))
        usage = Usage.sample(stack)
        memory.append((time.monotonic() - started, usage.rss))
        total = env.stats.total
        log(f"  {memory[-1][0]:5.0f} s  {total.num_requests} requests, {total.num_failures} failed, "
            f"web {usage.rss['web'] / 1e6:.0f} MB, worker {usage.rss['worker'] / 1e6:.0f} MB")  # fmt: skip
    seconds = time.monotonic() - started
    rows, errors = summarize(env, seconds)
    usage1, self1, machine1 = Usage.sample(stack), own_cpu(), psutil.cpu_times()
    runner.quit()
    busy = sum(machine1) - sum(machine0) - (machine1.idle - machine0.idle) - (machine1.iowait - machine0.iowait)
    return {
        "seconds": seconds,
        "rows": rows,
        "errors": errors,
        "error_count": sum(r["failures"] for r in rows if r["kind"] in KINDS),
        "memory": {role: [usage0.rss[role], usage1.rss[role]] for role in ("web", "worker")},
        "memory_series": [(t, rss["web"], rss["worker"]) for t, rss in memory],
        "cpu": {role: s / seconds for role, s in cpu_between(usage0, usage1, include_self=(self0, self1)).items()},
        "machine_busy": busy / seconds,
        "loadavg": os.getloadavg(),
        "cores": os.cpu_count(),
        "processes": {role: len(procs) for role, procs in stack.processes().items()},
        "pids": [stack.proc.pid] + [proc.pid for procs in stack.processes().values() for proc in procs],
    }


def drift(before: int, after: int) -> float:
    return (after - before) / before if before else 0.0


def verdict(result: dict) -> list[str]:
    rows = {r["kind"]: r for r in result["rows"]}
    drifts = {role: drift(*pair) for role, pair in result["memory"].items()}
    return [
        f"{rows['all']['rps']:.1f} requests/s (target ≥ {TARGET_RPS}): {'met' if rows['all']['rps'] >= TARGET_RPS else 'NOT met'}",
        f"reads p99 {rows['reads']['p99']:.0f} ms (target < {TARGET_P99_MS} ms): "
        f"{'met' if rows['reads']['p99'] < TARGET_P99_MS else 'NOT met'}",
        f"errors {result['error_count']} (target 0): {'met' if result['error_count'] == 0 else 'NOT met'}",
        "memory drift "
        + ", ".join(f"{role} {d:+.1%}" for role, d in drifts.items())
        + f" (target < {TARGET_DRIFT:.0%}): {'met' if all(d < TARGET_DRIFT for d in drifts.values()) else 'NOT met'}",
    ]


def _setup(*, result: dict, args: argparse.Namespace, corpus: Corpus) -> list[str]:
    pacing = f"{args.rate:g} requests/s each as Poisson arrivals" if args.rate else "no wait (closed loop)"
    return [
        "## Load and soak: mixed workload against `make run`'s stack",
        "",
        "`bench/load.py`: `manage.py up` as `make run` starts it (embedded PostgreSQL, Redis and S3;",
        f"gunicorn {result['processes']['web'] - 1} workers × {args.threads or 2} threads, Celery with "
        f"{result['processes']['worker'] - 1} pool processes), driven by locust {locust.__version__} "
        "(`FastHttpUser`) as a library over loopback.",
        f"Data: {len(corpus.photo_ids)} corpus photos (each with bytes of its own) and {len(corpus.note_ids)} "
        f"short notes, processed before the run ({corpus.failed} failed), in folders of up to 50;",
        "a share link to a folder of 12 photos.",
        "Workload, by weight: " + ", ".join(f"{kind} {weight}" for kind, weight in KINDS.items()) + ".",
        "*list* is a folder's first page (50 files, each with presigned URLs of its renditions), *search* one or",
        "two words with facets, *download* and *thumbnail* answer 302 (not followed), *share page* is the",
        "folder link's page, *upload* a fresh 100 KB text file (a multipart POST, stored and processed).",
        f"{args.users} users, {pacing}: {args.users * args.rate:g} requests/s offered"
        if args.rate
        else f"{args.users} users, {pacing}",
        f"({args.warmup:.0f} s of warm-up left out), measured for {result['seconds']:.0f} s. Times in ms.",
        "The load generator runs on the same two cores as the stack: it is one of the CPU figures below.",
        "",
    ]


def _cpu(result: dict) -> list[str]:
    requests = next(r["requests"] for r in result["rows"] if r["kind"] == "all") or 1
    ours = sum(result["cpu"].values())
    per_request = ", ".join(
        f"{role} {share * result['seconds'] / requests * 1000:.1f}"
        for role, share in result["cpu"].items()
        if share >= 0.005
    )
    cost = ours * result["seconds"] / requests
    return [
        "CPU, in cores busy over the run: "
        + ", ".join(f"{role} {share:.2f}" for role, share in result["cpu"].items() if share >= 0.005)
        + f"; {ours:.2f} in all, the machine {result['machine_busy']:.2f} of {result['cores']} "
        f"(the rest is other work on the machine).",
        f"CPU per request (ms): {per_request}; {cost * 1000:.1f} in all, so {result['cores']} idle cores "
        f"would serve about {result['cores'] / cost:.0f} requests/s of this mix.",
    ]


def report(*, result: dict, args: argparse.Namespace, corpus: Corpus) -> str:
    rows = [
        f"| {r['kind']} | {r['requests']} | {r['rps']:.1f} | {r['p50']:.0f} | {r['p95']:.0f} | {r['p99']:.0f} | "
        f"{r['max']:.0f} | {r['failures']} |"
        for r in result["rows"]
    ]
    memory = ", ".join(
        f"{role} {before / 1e6:.0f} → {after / 1e6:.0f} MB ({drift(before, after):+.1%}; "
        f"peak {max(sample[1 + i] for sample in result['memory_series']) / 1e6:.0f} MB)"
        for i, (role, (before, after)) in enumerate(result["memory"].items())
    )
    load = result["loadavg"]
    return "\n".join(
        [
            *_setup(result=result, args=args, corpus=corpus),
            "| kind | requests | req/s | p50 | p95 | p99 | max | errors |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            f"Memory (RSS summed over the processes, start → end of the measured run): {memory}.",
            "",
            *_cpu(result),
            f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (1 / 5 / 15 min) "
            f"on {result['cores']} cores.",
            "",
            "Errors: " + ("; ".join(result["errors"][:10]) if result["errors"] else "none") + ".",
            "",
            "Targets: " + "; ".join(verdict(result)) + ".",
        ]
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600, help="measured seconds (default 600: the soak)")
    parser.add_argument("--warmup", type=float, default=20, help="seconds of load before measuring")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--spawn-rate", type=float, default=10, help="users started per second")
    parser.add_argument("--rate", type=float, default=5, help="requests/s per user; 0: no wait (closed loop)")
    parser.add_argument("--photos", type=int, default=240)
    parser.add_argument("--notes", type=int, default=120)
    parser.add_argument("--web-workers", type=int, default=None, help="WEB_CONCURRENCY for `up` (its default: 4)")
    parser.add_argument("--threads", type=int, default=None, help="WEB_THREADS for `up` (its default: 2)")
    parser.add_argument("--var-dir", type=Path, default=None, help="the stack's folder (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, stack: UpStack) -> dict:
    print(f"starting `manage.py up` in {stack.var_dir} on port {stack.port} ...")
    stack.start()
    print("preparing data ...")
    corpus = Preparer(stack.base).prepare(photos=args.photos, notes=args.notes)
    Visitor.corpus, Visitor.body = corpus, upload_body()
    Visitor.wait_time = poisson_throughput(args.rate) if args.rate else constant(0)
    env = Environment(user_classes=[Visitor], host=stack.base)
    print(f"{args.users} users, warming up for {args.warmup:.0f} s ...")
    result = measure(env=env, stack=stack, args=args)
    table = report(result=result, args=args, corpus=corpus)
    print()
    print(table)
    if args.json:
        args.json.write_text(json.dumps({**result, "corpus": json.loads(corpus.to_json())}, indent=2))
    if not args.no_write:
        write_section("load", table)
        print("\nwritten to docs/benchmarks.md")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = args.var_dir or Path(tempfile.mkdtemp(prefix="mp-load-"))
    stack = UpStack(var_dir=var_dir, port=free_port(), web_workers=args.web_workers, threads=args.threads)
    # SIGTERM (a test's timeout, a CI job cancelled) stops the run like Ctrl-C: through `finally`.
    gevent.signal_handler(signal.SIGTERM, gevent.kill, gevent.getcurrent(), KeyboardInterrupt)
    try:
        result = run(args, stack)
    except KeyboardInterrupt:
        print("interrupted")
        return 130
    finally:
        print("stopping the stack ...")
        stack.stop()
        if args.var_dir is None:
            shutil.rmtree(var_dir, ignore_errors=True)
    return 0 if result["error_count"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
