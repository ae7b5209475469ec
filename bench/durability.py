"""Lifecycle and durability throughput (issue 15). For now: the archive sweep.

`archive_sweep_throughput()` builds a tenant of N files (bulk rows, one blob each, its
bytes really in the primary bucket), ages them past the threshold and times the sweep
(copies to the archive bucket, the batch transactions, the events), then the deletes of
the primary copies once their grace is over. `archive_query_cost()` times the candidate
query alone (a dry run) over rows only. Both need Django set up on a migrated database
and an S3 with the primary and archive buckets; `main()` starts a private embedded stack.

    .venv/bin/python bench/durability.py [--files 2000] [--size 262144] [--rows 10000]
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

from mediaportal.embedded import EmbeddedStack  # noqa: E402


def _tenant_with_files(*, slug: str, files: int, size: int, store: bool, days_old: int = 400):
    """A tenant whose `files` files (one version, one blob each, `size` bytes) were last
    touched `days_old` days ago; with `store`, each blob's bytes are PUT in the primary."""
    from django.utils import timezone

    from accounts.models import Tenant
    from files import storage
    from files.models import Blob, File, FileVersion

    tenant = Tenant.objects.create(slug=slug, name=slug)
    contents = [hashlib.sha256(f"{slug}-{n}".encode()).digest() * (size // 32 + 1) for n in range(files)]
    contents = [data[:size] for data in contents]
    shas = [hashlib.sha256(data).hexdigest() for data in contents]
    if store:
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(
                pool.map(
                    lambda pair: storage.object_put(
                        key=storage.blob_key(tenant.id, pair[1]),
                        body=pair[0],
                        sha256=pair[1],
                        content_type="application/octet-stream",
                        tenant_id=tenant.id,
                    ),
                    zip(contents, shas, strict=True),
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=256 * 1024)
    parser.add_argument("--rows", type=int, default=10_000)
    args = parser.parse_args()
    var_dir = Path(tempfile.mkdtemp(prefix="mp-bench-durability-"))
    stack = EmbeddedStack(var_dir=var_dir, log=print)
    try:
        env = {**os.environ, **stack.start(), "MEDIAPORTAL_VAR_DIR": str(var_dir)}
        env.pop("DEBUG", None)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
        import django

        django.setup()
        query = archive_query_cost(rows=args.rows)
        print(
            f"archive sweep, dry run over {query['rows']:,} files: {query['seconds']:.2f} s, "
            f"slowest batch query {query['batch_ms']:.0f} ms ({query['eligible']:,} eligible)"
        )
        sweep = archive_sweep_throughput(files=args.files, size=args.size)
        print(
            f"archive sweep of {sweep['files']:,} files ({sweep['bytes'] / 1e6:.0f} MB): {sweep['seconds']:.1f} s, "
            f"{sweep['files_per_s']:.0f} files/s, {sweep['mb_per_s']:.0f} MB/s; primary copies deleted after "
            f"the grace: {sweep['release_files_per_s']:.0f} files/s"
        )
    finally:
        stack.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
