"""Lifecycle and durability throughput (issue 15): the archive sweep, the integrity scrub,
backup and restore, and restore_from_bucket, each on 10,000 files by default.

`main()` starts a private embedded stack (PostgreSQL, Redis, S3 with a replica region),
migrates, and measures in this order:

- `scrub_throughput()`: a tenant of N files (bulk rows, one blob each, the bytes really in
  the primary bucket and the replica), scrubbed with repair: both copies of each blob read
  and re-hashed;
- the backup and restore commands on that tenant, run as an operator runs them
  (bench/backup_restore.py): backup, restore with the objects present, restore with the
  primary bucket emptied (every object copied back from the replica), write_manifests, then
  the database dropped and rebuilt by restore_from_bucket;
- `archive_query_cost()`: the sweep's candidate query alone (a dry run over rows);
- `archive_sweep_throughput()`: a tenant of N files aged past the threshold, swept (copies
  to the archive bucket, the batch transactions, the events), then the deletes of the
  primary copies once their grace is over.

Figures go to stdout and docs/benchmarks.md (section "durability").

    .venv/bin/python bench/durability.py [--files 10000] [--size 32768] [--rows 10000]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.backup_restore import SERVICE_VARS, Bench, _phases  # noqa: E402
from bench.backup_restore import report as restore_report  # noqa: E402
from bench.report import write_section  # noqa: E402
from mediaportal.embedded import EmbeddedStack  # noqa: E402


def _tenant_with_files(*, slug: str, files: int, size: int, store: bool, days_old: int = 400, replicate: bool = False):
    """A tenant whose `files` files (one version, one blob each, `size` bytes) were last
    touched `days_old` days ago; with `store`, each blob's bytes are PUT in the primary (and
    with `replicate` in the replica too, the blob marked replicated)."""
    from django.utils import timezone

    from accounts.models import Tenant
    from files import storage
    from files.models import Blob, File, FileVersion

    tenant = Tenant.objects.create(slug=slug, name=slug)
    contents = [hashlib.sha256(f"{slug}-{n}".encode()).digest() * (size // 32 + 1) for n in range(files)]
    contents = [data[:size] for data in contents]
    shas = [hashlib.sha256(data).hexdigest() for data in contents]
    roles = ("primary", "replica") if replicate else ("primary",) if store else ()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda job: storage.object_put(
                    key=storage.blob_key(tenant.id, job[1]),
                    body=job[0],
                    sha256=job[1],
                    content_type="application/octet-stream",
                    tenant_id=tenant.id,
                    role=job[2],
                ),
                [(data, sha, role) for data, sha in zip(contents, shas, strict=True) for role in roles],
            )
        )
    then = timezone.now() - timedelta(days=days_old)
    blobs = Blob.objects.bulk_create(
        [
            Blob(
                tenant=tenant,
                sha256=sha,
                size=size,
                content_type="application/octet-stream",
                storage_key=storage.blob_key(tenant.id, sha),
                created_at=then,
                replicated_at=then if replicate else None,
            )
            for sha in shas
        ]
    )
    rows = File.objects.bulk_create(
        [File(tenant=tenant, name=f"f{n}.bin", size=size, sha256=sha, status="completed", created_at=then)
         for n, sha in enumerate(shas)]
    )  # fmt: skip
    versions = FileVersion.objects.bulk_create(
        [
            FileVersion(tenant=tenant, file=f, number=1, blob=b, created_at=then)
            for f, b in zip(rows, blobs, strict=True)
        ]
    )
    for file, version in zip(rows, versions, strict=True):
        file.current_version = version
    File.objects.bulk_update(rows, ["current_version"])
    return tenant


def archive_sweep_throughput(*, files: int = 2000, size: int = 256 * 1024) -> dict:
    """Seconds, files/s and MB/s of one archive sweep over `files` files of `size` bytes,
    and of deleting their primary copies after the grace."""
    from django.utils import timezone

    from files.models import Blob
    from files.services.lifecycle import archive_grace, archive_primaries_release, archive_sweep

    tenant = _tenant_with_files(slug=f"bench-archive-{time.monotonic_ns()}", files=files, size=size, store=True)
    started = time.perf_counter()
    summary = archive_sweep(tenant=tenant)
    seconds = time.perf_counter() - started
    assert summary.archived == files, summary
    Blob.objects.filter(tenant=tenant).update(archived_at=timezone.now() - archive_grace() * 2)
    started = time.perf_counter()
    released = archive_primaries_release(tenant=tenant)
    release_seconds = time.perf_counter() - started
    return {
        "files": files,
        "bytes": files * size,
        "seconds": seconds,
        "files_per_s": files / seconds,
        "mb_per_s": files * size / seconds / 1e6,
        "released": released,
        "release_files_per_s": released / release_seconds,
    }


def archive_query_cost(*, rows: int = 10_000, batch: int = 500) -> dict:
    """A dry run over `rows` files (rows only): the candidate query's time per batch."""
    from files.services.lifecycle import archive_sweep

    tenant = _tenant_with_files(slug=f"bench-archive-rows-{time.monotonic_ns()}", files=rows, size=1000, store=False)
    batches: list[float] = []
    last = [time.perf_counter()]

    def tick(examined: int, note: str) -> None:
        now = time.perf_counter()
        batches.append(now - last[0])
        last[0] = now

    started = time.perf_counter()
    summary = archive_sweep(tenant=tenant, dry_run=True, batch=batch, progress=tick)
    seconds = time.perf_counter() - started
    return {"rows": rows, "eligible": summary.archived, "seconds": seconds, "batch_ms": 1000 * max(batches)}


def scrub_throughput(*, files: int, size: int) -> dict:
    """Seconds, files/s and MB/s (of file bytes, and of bytes read: both copies) of a scrub
    with repair over `files` intact files of `size` bytes; returns the tenant's slug too."""
    from files.services.scrub import scrub, scrub_plan

    slug = f"bench-scrub-{time.monotonic_ns()}"
    tenant = _tenant_with_files(slug=slug, files=files, size=size, store=True, replicate=True)
    plan = scrub_plan(tenant=tenant)
    started = time.perf_counter()
    report = scrub(blob_ids=plan, repair=True)
    seconds = time.perf_counter() - started
    assert report.intact == files and not report.lost, report
    return {
        "slug": slug,
        "files": files,
        "seconds": seconds,
        "files_per_s": files / seconds,
        "mb_per_s": files * size / seconds / 1e6,
        "read_mb_per_s": report.bytes_read / seconds / 1e6,
    }


def _restore_phases(env: dict[str, str], files: int) -> dict:
    """The backup and restore commands as subprocesses on the same stack (the database they
    drop and rebuild is this process's too: its connections are closed first)."""
    from django.db import connections

    connections.close_all()
    base = Path(tempfile.mkdtemp(prefix="mp-bench-restore-"))
    try:
        figures = {"files": files, **_phases(Bench(env, base), base / "backup", files)}
    finally:
        shutil.rmtree(base, ignore_errors=True)
    connections.close_all()
    return figures


def _report(scrubbed: dict, restored: dict, query: dict, swept: dict, size: int) -> str:
    lines = [
        f"### Archive sweep, scrub and restore on {scrubbed['files']:,} files of {size // 1024} KiB",
        "",
        "| step | seconds | files/s | MB/s |",
        "|---|---|---|---|",
        f"| archive sweep (copy to the archive bucket, state change, events) | {swept['seconds']:.1f} | "
        f"{swept['files_per_s']:.0f} | {swept['mb_per_s']:.1f} |",
        f"| archive sweep: primary copies deleted after the grace | "
        f"{swept['released'] / swept['release_files_per_s']:.1f} | {swept['release_files_per_s']:.0f} | |",
        f"| archive sweep, dry run over {query['rows']:,} rows (slowest batch query "
        f"{query['batch_ms']:.0f} ms) | {query['seconds']:.2f} | {query['rows'] / query['seconds']:.0f} | |",
        f"| scrub with repair (primary and replica copy re-hashed; {scrubbed['read_mb_per_s']:.1f} MB/s read) | "
        f"{scrubbed['seconds']:.1f} | {scrubbed['files_per_s']:.0f} | {scrubbed['mb_per_s']:.1f} |",
        "",
        "Backup and restore commands (whole processes, start-up included):",
        "",
        restore_report(restored),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32 * 1024)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="mp-bench-durability-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    try:
        stack_env = stack.start(replica=True)
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and not k.startswith("S3_")}
        env.update(stack_env, MEDIAPORTAL_VAR_DIR=str(var_dir), S3_PUBLIC_ENDPOINT_URL=stack_env["S3_ENDPOINT_URL"])
        env.setdefault("SECRET_KEY", "bench-" + "x" * 50)
        env["LOG_LEVEL"] = "WARNING"
        env.pop("DEBUG", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django

        django.setup()
        print(f"scrub: {args.files:,} files of {args.size:,} bytes ...", flush=True)
        scrubbed = scrub_throughput(files=args.files, size=args.size)
        print(f"  {scrubbed['seconds']:.1f} s, {scrubbed['files_per_s']:.0f} files/s", flush=True)
        print("backup, restore, restore_from_bucket ...", flush=True)
        restored = _restore_phases(env, args.files)
        query = archive_query_cost(rows=args.rows)
        print(f"archive sweep of {args.files:,} files ...", flush=True)
        swept = archive_sweep_throughput(files=args.files, size=args.size)
        body = _report(scrubbed, restored, query, swept, args.size)
        print("\n" + body)
        write_section("durability", body)
        print("\nwritten to docs/benchmarks.md", flush=True)
    finally:
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
