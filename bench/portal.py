"""Server time of the browse page with 10,000 files (and more) in one folder.

Starts a private embedded stack (PostgreSQL, Redis for sessions, S3 only so presigning has
its credentials) in a temp dir, migrates, and builds a tenant whose folder "Photos" holds
the files as bulk rows: 60 % with WebP and JPEG thumbnails, 5 % pending, 2 % failed, the
rest documents without renditions, spread over types, sizes and modification times; a
second tenant of the same size sits beside it so every query has to scope by tenant.

Each view is requested in-process through Django's test client (the whole middleware
stack, the view, the templates; no network, no gunicorn), signed in, after a warm-up;
the figure is the wall time of `client.get`. Views: the first page (grid), a keyset page
deep in the folder (the cursor of the 9,000th file), the list view, sorted by modified,
size and type, and the first page for an editor (whose visibility is a subquery of
grants, not "everything"). EXPLAIN ANALYZE of the page query is printed for the first and
the deep page.

    .venv/bin/python bench/portal.py [--sizes 10000] [--requests 100]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import median_ms, p95_ms, write_section  # noqa: E402
from mediaportal.embedded import EmbeddedStack  # noqa: E402

TARGET_P95_MS = 100
TYPES = ["image/jpeg", "image/png", "application/pdf", "text/plain", "image/webp"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="mp-bench-portal-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    try:
        print("starting the embedded stack ...")
        env = {**os.environ, **stack.start(), "MEDIAPORTAL_VAR_DIR": str(var_dir)}
        env.pop("DEBUG", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django

        django.setup()
        sections = [run(size, args.requests) for size in sorted(int(s) for s in args.sizes.split(","))]
        body = "\n\n".join([_intro(args.requests), *sections])
        print("\n" + body)
        write_section("portal", body)
        print("\nwritten to docs/benchmarks.md", flush=True)
    finally:
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


def build(size: int, suffix: str):
    """A tenant with an owner, an editor, a few folders, and `size` files in "Photos"."""
    from accounts.models import Membership, Role, Tenant, User
    from files.models import Folder

    tenant = Tenant.objects.create(slug=f"bench-{suffix}", name=f"Bench {suffix}")
    owner = User.objects.create(username=f"owner-{suffix}", email=f"o{suffix}@example.com")
    editor = User.objects.create(username=f"editor-{suffix}", email=f"e{suffix}@example.com")
    owner_m = Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    editor_m = Membership.objects.create(tenant=tenant, user=editor, role=Role.EDITOR)
    photos = Folder.objects.create(tenant=tenant, name="Photos", path="/Photos/", created_by=owner)
    for name in ("Documents", "Invoices", "Archive"):
        Folder.objects.create(tenant=tenant, name=name, path=f"/{name}/", created_by=owner)
    for year in range(2015, 2026):
        Folder.objects.create(tenant=tenant, name=str(year), path=f"/Photos/{year}/", parent=photos)
    for start in range(0, size, 2000):
        _fill(tenant, photos, owner, editor, range(start, min(size, start + 2000)))
    return tenant, photos, owner_m, editor_m


def _fill(tenant, photos, owner, editor, chunk: range) -> None:
    """Files number `chunk` as rows: file, blob, version, and thumbnails for most photos."""
    from datetime import timedelta

    from django.utils import timezone

    from files.models import File, FileStatus
    from tests.factories import current_versions_for

    now = timezone.now()
    files = File.objects.bulk_create(
        [
            File(
                tenant=tenant,
                folder=photos,
                name=f"IMG_{i:06d}.{'jpg' if i % 10 < 6 else 'pdf'}",
                owner=owner if i % 3 else editor,
                size=10_000 + (i * 7919) % 9_000_000,
                content_type=TYPES[i % len(TYPES)],
                status=_status(i),
                error="The image data is truncated." if _status(i) == FileStatus.FAILED else "",
            )
            for i in chunk
        ]
    )
    blobs = current_versions_for(files, owner=owner)
    for i, file in zip(chunk, files, strict=True):
        file.updated_at = now - timedelta(minutes=(i * 7477) % 500_000)
    File.objects.bulk_update(files, ["updated_at"])
    _thumbnails(tenant, chunk, blobs)


def _thumbnails(tenant, chunk: range, blobs) -> None:
    """WebP and JPEG thumbnails of the processed photos among them."""
    from files.models import FileStatus, Rendition

    Rendition.objects.bulk_create(
        [
            Rendition(
                tenant=tenant,
                blob=b,
                kind="thumbnail",
                format=fmt,
                width=200,
                height=150,
                size=9000,
                storage_key=f"tenants/{tenant.pk}/renditions/{b.sha256}/thumbnail.{fmt}",
            )  # fmt: skip
            for i, b in zip(chunk, blobs, strict=True)
            if i % 10 < 6 and _status(i) == FileStatus.COMPLETED
            for fmt in ("webp", "jpeg")
        ]
    )


def _status(i: int) -> str:
    return "pending" if i % 20 == 7 else "failed" if i % 50 == 13 else "completed"


def _deep_cursor(membership, folder, position: int) -> str:
    """The cursor the page before `position` (name order) would link to."""
    from django.db.models.functions import Lower

    from files.models import File
    from files.views.browse import _cursor_encode

    file = (
        File.objects.filter(tenant_id=membership.tenant_id, folder=folder, deleted_at__isnull=True)
        .annotate(sort_key=Lower("name"))
        .order_by("sort_key", "id")[position]
    )
    return _cursor_encode(file, "name")


def _modified_cursor(membership, folder) -> tuple:
    """(key, id) of the 9,000th newest file: where a deep page sorted by modified starts."""
    from files.models import File

    files = File.objects.filter(tenant_id=membership.tenant_id, folder=folder).order_by("-updated_at", "-id")
    file = files[min(9000, files.count() - 60)]
    return file.updated_at, file.pk


def _explain(membership, folder, after, sort: str = "name") -> str:
    from django.db import connection

    from files.selectors import file_browse_page

    captured = {}

    def grab(execute, sql, params, many, context):
        captured.setdefault("sql", (sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(grab):
        file_browse_page(
            membership=membership, folder=folder, sort=sort, descending=sort != "name", after=after, limit=49
        )
    sql, params = captured["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def measure(client, url: str, params: dict, n: int) -> tuple[list[float], list[float]]:
    """Wall times of `n` requests, and the CPU time this (the web) process spent on each."""
    for _ in range(5):
        assert client.get(url, params).status_code == 200
    wall, cpu = [], []
    for _ in range(n):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = client.get(url, params)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert response.status_code == 200, response.status_code
    return wall, cpu


def run(size: int, requests: int) -> str:
    from django.db import connection
    from django.test import Client

    from files.views.browse import _cursor_decode

    print(f"\n== {size:,} files in one folder ==", flush=True)
    started = time.perf_counter()
    tenant, photos, owner, editor = build(size, f"{size}")
    build(size, f"{size}-other")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE files_file")
        cursor.execute("VACUUM ANALYZE files_rendition")
    print(f"built two tenants of {size:,} files in {time.perf_counter() - started:.0f} s", flush=True)

    url = f"/t/{tenant.slug}/folders/{photos.pk}/"
    deep = _deep_cursor(owner, photos, min(9000, size - 60))
    views = {
        "first page, grid": {},
        "deep keyset page (after file 9,000), grid": {"cursor": deep},
        "first page, list": {"view": "list"},
        "sorted by modified, newest first": {"sort": "modified", "order": "desc"},
        "sorted by size, largest first, list": {"view": "list", "sort": "size", "order": "desc"},
        "sorted by type": {"sort": "type"},
        "next page by htmx (partial)": {"cursor": deep, "partial": "page"},
    }
    results = {}
    for role, membership in (("owner", owner), ("editor", editor)):
        client = Client()
        client.force_login(membership.user)
        for label, params in views.items():
            if role == "editor" and label not in ("first page, grid", "deep keyset page (after file 9,000), grid"):
                continue
            wall, cpu = measure(client, url, params, requests)
            results[f"{label} ({role})"] = (wall, cpu)
            print(
                f"  {label} ({role}): p50 {median_ms(wall):.1f} ms, p95 {p95_ms(wall):.1f} ms "
                f"(CPU of the web process p50 {median_ms(cpu):.1f} ms)",
                flush=True,
            )
    plans = {
        "first page (owner)": _explain(owner, photos, None),
        "deep page (owner)": _explain(owner, photos, _cursor_decode(deep, "name")),
        "deep page (editor)": _explain(editor, photos, _cursor_decode(deep, "name")),
        "deep page by modified, newest first (owner)": _explain(
            owner, photos, _modified_cursor(owner, photos), "modified"
        ),
    }
    for label, plan in plans.items():
        print(f"\n  EXPLAIN ANALYZE, {label}:\n{plan}")
    return _section(size, results, plans)


def results_load(_results: dict) -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _intro(requests: int) -> str:
    return (
        "## Portal: the browse page\n\n"
        "`bench/portal.py`: server time of `GET /t/<team>/folders/<id>/` with the folder holding N files "
        "(60 % with WebP and JPEG thumbnails, 5 % pending, 2 % failed; a second tenant of the same size "
        "beside it), requested in-process through Django's test client (middleware, view, templates; no "
        f"network), signed in, {requests} requests per row after 5 warm-ups. A page is 48 files; the WebP "
        "thumbnail of each is presigned on the server (the JPEG fallback is a redirect, signed when asked "
        f"for). CPU is this web process's own (the database's time is not in it). Target: p95 ≤ {TARGET_P95_MS} ms."
    )


def _section(size: int, results: dict, plans: dict) -> str:
    rows = [
        f"| {label} | {median_ms(wall):.1f} | {p95_ms(wall):.1f} | {median_ms(cpu):.1f} |"
        for label, (wall, cpu) in results.items()
    ]
    worst = max(p95_ms(wall) for wall, _cpu in results.values())
    verdict = (
        f"Worst p95 **{worst:.1f} ms** ({'met' if worst <= TARGET_P95_MS else 'not met'}); load average while "
        f"measuring {results_load(results)} on 2 cores (other work on the machine slows every row alike)."
    )
    plan_lines = []
    for label, plan in plans.items():
        nodes = [
            re.sub(r"'[0-9a-f-]{36}'::uuid", "…", line.strip().lstrip("-> "))
            for line in plan.splitlines()
            if re.search(r"Index (Only )?Scan|Index Cond|Seq Scan|Execution Time", line)
        ]
        plan_lines.append(f"- {label}: " + "; ".join(nodes[:3] + nodes[-1:]))
    return "\n".join(
        [
            f"### {size:,} files in one folder",
            "",
            "| request | p50 ms | p95 ms | web process CPU p50 ms |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            verdict,
            "",
            "The page query's plan (EXPLAIN ANALYZE, abridged):",
            *plan_lines,
        ]
    )


if __name__ == "__main__":
    main()
