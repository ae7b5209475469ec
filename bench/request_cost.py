"""CPU per request of each kind of the load mix, in-process: what the web tier and the services
behind it spend on one request, measured so that other work on the machine does not move it.

Starts a private embedded PostgreSQL, Redis and S3, migrates, and prepares the load bench's
data shape through the API (bench/load_data.py: folders of 50 corpus photos or short notes,
each photo with bytes of its own, a share link to a folder of 12 photos), processing each
file in this process. Then a fresh process loads the application from `mediaportal.wsgi`, as
a gunicorn worker does, and in rounds sends each kind `--requests` times through it (as
gunicorn calls it, without sockets), taking the CPU time it used (`time.process_time`; the
part in the garbage collector too) and the CPU time PostgreSQL's processes, Redis and S3 used
(/proc/<pid>/task/*/schedstat, nanoseconds on the CPU), per request. Kinds alternate within
each round; the figures are medians over rounds. CPU time, unlike throughput, stays put when
the machine is busy (within a few per cent: caches and frequency still move).

    .venv/bin/python bench/request_cost.py [--rounds 7] [--requests 30] [--profile list]
        [--no-write] [--title "before"]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import BOUNDARY, KINDS  # noqa: E402
from bench.load_data import CORPUS, PER_FOLDER, PHOTOS, SHARED_PHOTOS, WORDS, note_text, unique_image, upload_body  # noqa: E402
from bench.report import write_section  # noqa: E402
from mediaportal.embedded import EmbeddedStack  # noqa: E402

PARTS = ("web", "postgres", "redis", "s3")


class GcClock:
    """CPU time this process spent in the cyclic garbage collector (part of "web")."""

    def __init__(self) -> None:
        self.seconds, self._started = 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


GC = GcClock()


def cpu_ns(pid: int, *, children: bool = False) -> int:
    """Nanoseconds on the CPU of every thread of `pid` (and of its children's)."""
    pids = [pid]
    if children:
        pids += [child.pid for child in psutil.Process(pid).children()]
    total = 0
    for p in pids:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (FileNotFoundError, ProcessLookupError):
                pass
    return total


class Client:
    """Calls the WSGI application as a server would, with the environ of one HTTP request."""

    def __init__(self, app, token: str = "") -> None:
        self.app, self.token = app, token

    def call(self, method: str, path: str, *, body: bytes = b"", content_type: str = "", auth: bool = True):
        path, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            "wsgi.version": (1, 0),
        }
        if body:
            environ["CONTENT_LENGTH"] = str(len(body))
            environ["CONTENT_TYPE"] = content_type
        if auth and self.token:
            environ["HTTP_AUTHORIZATION"] = f"Token {self.token}"
        status: list[str] = []
        result = self.app(environ, lambda s, headers, exc_info=None: status.append(s))
        try:
            content = b"".join(result)
        finally:
            getattr(result, "close", lambda: None)()
        return int(status[0].split()[0]), content

    def json(self, method: str, path: str, expect: int, **kwargs):
        code, content = self.call(method, path, **kwargs)
        if code != expect:
            raise RuntimeError(f"{method} {path}: {code} {content[:300]!r}")
        return json.loads(content)


def multipart(fields: dict[str, str], *, filename: str, data: bytes) -> tuple[bytes, str]:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    return b"".join(parts), f"multipart/form-data; boundary={BOUNDARY}"


def prepare(client: Client, *, photos: int, notes: int) -> dict:
    """The load bench's data through the API, each file processed here."""
    from files.services.processing_run import file_process  # only after django.setup()

    started = time.monotonic()
    reg = client.json(
        "POST",
        "/api/v1/auth/register/",
        201,
        body=b'{"username": "costbench", "email": "cost@example.com", "password": "cost bench password 42"}',
        content_type="application/json",
    )
    client.token = reg["token"]
    api = f"/api/v1/tenants/{reg['tenant']['slug']}"

    def folder(name: str) -> str:
        body = json.dumps({"name": name}).encode()
        return client.json("POST", f"{api}/folders/", 201, body=body, content_type="application/json")["id"]

    def upload(name: str, data: bytes, folder_id: str) -> str:
        body, ctype = multipart({"folder": folder_id}, filename=name, data=data)
        file_id = client.json("POST", f"{api}/files/", 201, body=body, content_type=ctype)["id"]
        file_process(file_id=file_id)
        return file_id

    rng = random.Random(42)
    sources = [(CORPUS / path).read_bytes() for path in PHOTOS]
    shared, folders, photo_ids, note_ids = folder("shared"), [], [], []
    for n in range(photos):
        if n < SHARED_PHOTOS:
            target = shared
        else:
            if (n - SHARED_PHOTOS) % PER_FOLDER == 0:
                folders.append(folder(f"photos {len(folders) + 1}"))
            target = folders[-1]
        path = Path(PHOTOS[n % len(PHOTOS)])
        data = unique_image(sources[n % len(sources)], f"cost bench {n}")
        photo_ids.append(upload(f"{path.stem} {n}{path.suffix}", data, target))
    for n in range(notes):
        if n % PER_FOLDER == 0:
            folders.append(folder(f"notes {n // PER_FOLDER + 1}"))
        text = note_text(rng, rng.randint(80, 600)).encode()
        note_ids.append(upload(f"note {n}.txt", text, folders[-1]))
    inbox = folder("inbox")
    share = client.json(
        "POST", f"{api}/shares/", 201, body=json.dumps({"folder": shared}).encode(), content_type="application/json"
    )["token"]
    print(f"  data ready in {time.monotonic() - started:.1f} s: {photos} photos, {notes} notes")
    return {
        "api": api,
        "token": client.token,
        "folders": folders,
        "photos": photo_ids,
        "notes": note_ids,
        "inbox": inbox,
        "share": share,
    }


def requests_of(kind: str, data: dict, rng: random.Random, body: bytes):
    """(method, path, expected status, keyword arguments) of one request of `kind`."""
    api = data["api"]
    if kind == "list":
        return "GET", f"{api}/files/?folder={rng.choice(data['folders'])}", 200, {}
    if kind == "search":
        return "GET", f"{api}/search/?q={'+'.join(rng.sample(WORDS, rng.choice((1, 1, 2))))}", 200, {}
    if kind == "download":
        return "GET", f"{api}/files/{rng.choice(data['photos'] + data['notes'])}/download/", 302, {}
    if kind == "thumbnail":
        return "GET", f"{api}/files/{rng.choice(data['photos'])}/renditions/thumbnail/", 302, {}
    if kind == "share page":
        return "GET", f"/s/{data['share']}", 200, {"auth": False}
    unique = uuid.uuid4().hex.encode()
    payload, ctype = multipart({"folder": data["inbox"]}, filename=f"upload {unique.decode()}.txt", data=unique + body)
    return "POST", f"{api}/files/", 201, {"body": payload, "content_type": ctype}


class Meter:
    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def sample(self) -> dict[str, float]:
        return {
            "gc": GC.seconds,
            "web": time.process_time(),
            "postgres": cpu_ns(self.pids["postgres"], children=True) / 1e9,
            "redis": cpu_ns(self.pids["redis"]) / 1e9,
            "s3": cpu_ns(self.pids["s3"]) / 1e9,
        }


def run_kind(client: Client, meter: Meter, kind: str, data: dict, *, n: int, rng: random.Random, body: bytes):
    """CPU seconds per request of `kind`, by part, over `n` requests."""
    calls = [requests_of(kind, data, rng, body) for _ in range(n)]
    before = meter.sample()
    for method, path, expect, kwargs in calls:
        code, content = client.call(method, path, **kwargs)
        if code != expect:
            raise RuntimeError(f"{kind}: {method} {path}: {code} {content[:300]!r}")
    after = meter.sample()
    return {part: (after[part] - before[part]) / n for part in (*PARTS, "gc")}


def measure(client: Client, meter: Meter, data: dict, args) -> dict[str, dict[str, float]]:
    rng, body = random.Random(7), upload_body()[33:]
    for kind in KINDS:  # warm caches, connections and lazy imports
        run_kind(client, meter, kind, data, n=3, rng=rng, body=body)
    samples: dict[str, list[dict]] = {kind: [] for kind in KINDS}
    for r in range(args.rounds):
        order = list(KINDS)
        rng.shuffle(order)
        for kind in order:
            samples[kind].append(run_kind(client, meter, kind, data, n=args.requests, rng=rng, body=body))
        print(
            f"  round {r + 1}/{args.rounds}: "
            + ", ".join(f"{k} {samples[k][-1]['web'] * 1000:.1f} (gc {samples[k][-1]['gc'] * 1000:.1f})" for k in KINDS)
        )
    return {
        kind: {part: statistics.median(s[part] for s in rows) * 1000 for part in (*PARTS, "gc")}
        for kind, rows in samples.items()
    }


def profile(client: Client, meter: Meter, data: dict, kind: str, n: int) -> None:
    rng, body = random.Random(11), upload_body()[33:]
    run_kind(client, meter, kind, data, n=3, rng=rng, body=body)
    profiler = cProfile.Profile()
    profiler.enable()
    run_kind(client, meter, kind, data, n=n, rng=rng, body=body)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(45)
    stats.sort_stats("tottime").print_stats(30)
    print(out.getvalue())


def queries(client: Client, meter: Meter, data: dict, kind: str, n: int) -> None:
    """Each statement of `kind`'s requests by total time over `n` requests, slowest first."""
    from django.db import connection  # only after django.setup()
    from django.test.utils import CaptureQueriesContext

    rng, body = random.Random(13), upload_body()[33:]
    run_kind(client, meter, kind, data, n=3, rng=rng, body=body)
    with CaptureQueriesContext(connection) as captured:
        run_kind(client, meter, kind, data, n=n, rng=rng, body=body)
    totals: dict[str, list[float]] = {}
    for query in captured.captured_queries:
        totals.setdefault(query["sql"][:160], []).append(float(query["time"]))
    print(f"\n{kind}: {len(captured.captured_queries) / n:.1f} statements per request")
    for sql, times in sorted(totals.items(), key=lambda item: -sum(item[1]))[:15]:
        print(f"  {sum(times) / n * 1000:6.2f} ms/request  {len(times) / n:4.1f}x  {sql}")


def report(costs: dict[str, dict[str, float]], args) -> str:
    weights = sum(KINDS.values())
    mix = {part: sum(KINDS[k] * costs[k][part] for k in KINDS) / weights for part in (*PARTS, "gc")}
    total = sum(mix[part] for part in PARTS)
    lines = [
        "## CPU per request, in-process (bench/request_cost.py)" + (f": {args.title}" if args.title else ""),
        "",
        f"The load bench's data shape ({args.photos} photos, {args.notes} notes, folders of {PER_FOLDER}, a share "
        f"of {SHARED_PHOTOS} photos); each kind sent {args.requests} times per round through `mediaportal.wsgi`'s "
        f"application in a process of its own, {args.rounds} rounds, medians. CPU ms per request: web is that "
        'process (`time.process_time`; "of which GC" its time in the cyclic garbage collector), the others '
        "their processes' time on the CPU (schedstat). No gunicorn, no sockets and no load generator: through "
        "gunicorn a request costs a few ms more (the soak's web figure was ~4 ms above this one's).",
        "",
        "| kind | weight | web | of which GC | PostgreSQL | Redis | S3 | all |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind in KINDS:
        c = costs[kind]
        lines.append(
            f"| {kind} | {KINDS[kind]} | {c['web']:.1f} | {c['gc']:.1f} | {c['postgres']:.1f} | {c['redis']:.2f} "
            f"| {c['s3']:.1f} | {sum(c[p] for p in PARTS):.1f} |"
        )
    lines.append(
        f"| **mix** | {weights} | {mix['web']:.1f} | {mix['gc']:.1f} | {mix['postgres']:.1f} | {mix['redis']:.2f} | {mix['s3']:.1f} "
        f"| **{total:.1f}** |"
    )
    lines += [
        "",
        f"The mix costs {total:.1f} ms of CPU per request here: at most {2000 / total:.0f} requests/s on 2 idle "
        "cores before gunicorn's and the load generator's share.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--photos", type=int, default=SHARED_PHOTOS + 2 * PER_FOLDER)
    parser.add_argument("--notes", type=int, default=2 * PER_FOLDER)
    parser.add_argument("--profile", default="", help="print a cProfile of these kinds (comma-separated) first")
    parser.add_argument("--queries", choices=list(KINDS), help="print the statements of this kind first")
    parser.add_argument("--title", default="")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve", metavar="DATA", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return

    var_dir = Path(tempfile.mkdtemp(prefix="mp-bench-cost-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    try:
        os.environ.update(stack.start(postgres=True, redis=True, s3=True))
        os.environ.update(MEDIAPORTAL_VAR_DIR=str(var_dir), SECRET_KEY=uuid.uuid4().hex * 2)
        os.environ.pop("DEBUG", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django  # the settings read the environment the stack just gave
        from django.core.management import call_command
        from django.core.wsgi import get_wsgi_application

        django.setup()
        call_command("migrate", verbosity=0)
        data = prepare(Client(get_wsgi_application()), photos=args.photos, notes=args.notes)
        # A running server's autovacuum has analysed tables this size within a minute; without
        # statistics the planner chose nested loops that doubled the list's database time.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        data["pids"] = {"postgres": stack.pid("postgres"), "redis": stack.pid("redis"), "s3": stack.pid("weed")}
        path = var_dir / "data.json"
        path.write_text(json.dumps(data))
        # Measured in a process of its own that loads the application as a gunicorn worker does,
        # so that what the preparation left in memory does not weigh on it.
        subprocess.run([sys.executable, __file__, *sys.argv[1:], "--serve", str(path)], check=True)
    finally:
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


def serve(args) -> None:
    """The measuring process: the application as `mediaportal.wsgi` makes it, the data prepared."""
    from mediaportal.wsgi import application  # the environment names the stack

    data = json.loads(Path(args.serve).read_text())
    client, meter = Client(application, data["token"]), Meter(data["pids"])
    for kind in filter(None, args.profile.split(",")):
        profile(client, meter, data, kind, args.requests)
    if args.queries:
        queries(client, meter, data, args.queries, args.requests)
    body = report(measure(client, meter, data, args), args)
    print("\n" + body)
    if not args.no_write:
        write_section("request-cost", body)
        print("\nwritten to docs/benchmarks.md")


if __name__ == "__main__":
    main()
