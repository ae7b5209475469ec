"""Analytics at scale: the dashboard's endpoints on one tenant of 1,000,000 files and
10,000,000 audit events.

`main()` starts a private embedded stack (PostgreSQL sized as for a server, Redis for
sessions and the cache, S3 so settings have their endpoint), migrates, and:

- builds the tenant with SQL on the server (bench/analytics_data.py: files with versions,
  blobs, duplicates, archived and replicated blobs, thumbnails, tags, labels, 20 users, 240
  folders, and the events spread over a year);
- runs `manage.py analytics_backfill` (the hourly usage roll-ups of the whole year) and one
  storage snapshot, timed: what the roll-ups cost;
- requests each analytics endpoint, and the portal's dashboard page, in-process through
  Django's test client (middleware, view, serializer or template; no network), signed in as
  the owner, 5 warm-ups then N timed calls each, counting the SQL queries of every call.

Figures go to stdout and docs/benchmarks.md (section "analytics"; only a run at full size
writes it).

    .venv/bin/python bench/analytics.py [--files 1000000] [--events 10000000] [--requests 50]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import analytics_data  # noqa: E402
from bench.private_stack import django_on_private_stack  # noqa: E402
from bench.report import median_ms, p95_ms, write_section  # noqa: E402

TARGET_P95_MS = 100
FULL = (1_000_000, 10_000_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=FULL[0])
    parser.add_argument("--events", type=int, default=FULL[1])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--shared-buffers", default="2GB", help="for the private server (embedded default 128MB)")
    args = parser.parse_args()
    with django_on_private_stack("analytics", shared_buffers=args.shared_buffers, replica=False):
        body = run(args)
        print("\n" + body)
        if (args.files, args.events) == FULL:
            write_section("analytics", body)
            print("\nwritten to docs/benchmarks.md", flush=True)


def run(args) -> str:
    from django.db import connection
    from django.test import Client

    print(f"\n== one tenant: {args.files:,} files, {args.events:,} events ==", flush=True)
    built = analytics_data.build(connection, files=args.files, events=args.events, log=print)
    tenant, owner = built["tenant"], built["owner"]
    rollup = roll_up(tenant)
    client = Client()
    client.force_login(owner)
    results = {label: measure(client, url, args.requests) for label, url in _requests(tenant.slug).items()}
    return _document(args, built, rollup, results)


def roll_up(tenant) -> dict:
    """What the roll-ups cost, in seconds: the whole backfill (`manage.py analytics_backfill`,
    every day of the year, then a snapshot), one storage snapshot, and one run of the
    every-minute roll-up in its steady state (reading the last late-commit window of events)."""
    from django.core.management import call_command

    from analytics.services import rollups, snapshots

    figures = {}
    started = time.perf_counter()
    call_command("analytics_backfill", "--tenant", tenant.slug)
    figures["backfill"] = time.perf_counter() - started
    print(f"  analytics_backfill: {figures['backfill']:.1f} s", flush=True)
    figures["minute"] = _steady_roll_up(rollups)
    print(f"  every-minute roll-up: {figures['minute']:.2f} s", flush=True)
    started = time.perf_counter()
    snapshots.storage_snapshot(tenant=tenant)
    figures["snapshot"] = time.perf_counter() - started
    print(f"  storage snapshot: {figures['snapshot']:.1f} s", flush=True)
    return figures


def _steady_roll_up(rollups) -> float:
    """One roll-up run as it runs every minute once caught up: its cursor is where the
    previous run left it, so it reads again the events of the late-commit window."""
    from django.conf import settings
    from django.utils import timezone

    from accounts.models import ActivityEvent
    from analytics.models import RollupCursor

    now = timezone.now()
    late = settings.ANALYTICS_LATE_COMMIT_SECONDS
    window = now - timedelta(seconds=late)
    first = ActivityEvent.objects.filter(at__gte=window).order_by("at").values_list("id", flat=True).first() or 0
    last = ActivityEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    marks = [[window.timestamp() - 1, first], [now.timestamp() - 60, last]]
    RollupCursor.objects.filter(name="usage").update(last_id=last, marks=marks)
    started = time.perf_counter()
    rollups.usage_roll_up()
    return time.perf_counter() - started


def _requests(slug: str) -> dict[str, str]:
    from django.utils import timezone

    api = f"/api/v1/tenants/{slug}/analytics/"
    today = timezone.localdate()
    month, year = today - timedelta(days=29), today - timedelta(days=364)
    return {
        "storage/": api + "storage/",
        "file-types/": api + "file-types/",
        "usage/ 30 days by day": api + f"usage/?from={month}&to={today}&interval=day",
        "usage/ 365 days by week": api + f"usage/?from={year}&to={today}&interval=week",
        "categories/": api + "categories/",
        "cost/": api + "cost/",
        "activity/ first page": api + "activity/",
        "portal dashboard page": f"/t/{slug}/settings/analytics/",
    }


def measure(client, url: str, n: int) -> dict:
    """Wall times of `n` GETs after 5 warm-ups, and the distinct numbers of queries seen."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    if client.get(url).status_code == 404:
        print(f"  {url}: not there (404)", flush=True)
        return {"times": [], "queries": []}
    for _ in range(5):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    times, queries = [], set()
    for _ in range(n):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
        queries.add(len(captured.captured_queries))
    print(f"  {url}: p50 {median_ms(times):.1f} ms, p95 {p95_ms(times):.1f} ms, queries {sorted(queries)}", flush=True)
    return {"times": times, "queries": sorted(queries)}


def _document(args, built: dict, rollup: dict, results: dict) -> str:
    seconds = built["seconds"]
    missing = [label for label, r in results.items() if not r["times"]]
    results = {label: r for label, r in results.items() if r["times"]}
    rows = [
        f"| {label} | {median_ms(r['times']):.1f} | {p95_ms(r['times']):.1f} | {'/'.join(map(str, r['queries']))} |"
        for label, r in results.items()
    ]
    rows += [f"| {label} | – | – | not there (404) |" for label in missing]
    worst = max(p95_ms(r["times"]) for r in results.values())
    constant = all(len(r["queries"]) == 1 for r in results.values())
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    return "\n".join(
        [
            "## Analytics: dashboard endpoints on one large tenant",
            "",
            f"`bench/analytics.py`: one tenant of {args.files:,} files (a tenth duplicates, a tenth with a second "
            f"version, a fifth archived, images with thumbnails, tags and labels, 20 users, 240 folders) and "
            f"{args.events:,} audit events over the last year, written with SQL on the server "
            f"(files {seconds['files']:.0f} s, events {seconds['events']:.0f} s, vacuum analyze "
            f"{seconds['analyze']:.0f} s). Endpoints requested in-process through Django's test client "
            f"(middleware, view, serializer or template; no network), signed in as the owner, "
            f"{args.requests} requests per row after 5 warm-ups; the queries of every call counted.",
            "",
            "What the roll-ups cost (they are what keeps the dashboard from scanning files and events):",
            "",
            f"- `manage.py analytics_backfill` (366 days, then a snapshot): **{rollup['backfill']:.1f} s**",
            f"- the every-minute roll-up, caught up (re-reading the late-commit window): **{rollup['minute']:.2f} s**",
            f"- one storage snapshot (`analytics.snapshot_storage`'s work for the tenant): **{rollup['snapshot']:.1f} s**",
            "",
            "| request | p50 ms | p95 ms | SQL queries per call |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Worst p95 **{worst:.1f} ms** (target {TARGET_P95_MS} ms: {'met' if worst <= TARGET_P95_MS else 'not met'}); "
            f"queries per call {'constant' if constant else 'NOT constant'} across calls; load average "
            f"{load} on 2 cores shared with other work.",
        ]
    )


if __name__ == "__main__":
    main()
