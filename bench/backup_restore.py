"""Backup, restore and restore_from_bucket throughput (issue 15, part C) on a stack of its
own (PostgreSQL, Redis, S3 with a replica region), the commands run as an operator runs
them: `python -m bench.backup_restore [--files N] [--size BYTES]`.

`measure()` returns the figures (bench/durability.py reports them with the others).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mediaportal.embedded import EmbeddedStack
from mediaportal.pgtools import EMBEDDED_BIN

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIAPORTAL_TEST_STACK_READY")

# Run in `manage.py shell`: a tenant with FILES text files (random, so nothing dedups) (a tenth with a second version, a
# third in folders, tags on all), every object copied to the replica as replication would.
SEED = """
import os
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from accounts.models import User
from accounts.services.tenants import tenant_create
from files.models import Blob
from files.storage.transfer import object_transfer
user = User.objects.create(username="bench", email="bench@example.com")
tenant = tenant_create(actor=user, name="Bench", slug="bench")
tenant.quota_bytes = 10**13
tenant.save()
client = APIClient()
client.force_authenticate(user)
base = "/api/v1/tenants/bench/"
folders = [client.post(base + "folders/", {{"name": f"F{{n}}"}}, format="json").json()["id"] for n in range(10)]
for n in range({files}):
    body = {{"file": SimpleUploadedFile(f"f{{n}}.bin", os.urandom({size} // 2).hex().encode())}}
    if n % 3:
        body["folder"] = folders[n % 10]
    made = client.post(base + "files/", body, format="multipart").json()
    client.patch(base + f"files/{{made['id']}}/", {{"tags": [f"t{{n % 7}}"], "description": f"n {{n}}"}}, format="json")
    if n % 10 == 0:
        again = {{"file": SimpleUploadedFile(f"f{{n}}.bin", os.urandom({size} // 2).hex().encode())}}
        client.post(base + f"files/{{made['id']}}/versions/", again, format="multipart")
for blob in Blob.objects.all():
    object_transfer(key=blob.storage_key, source="primary", target="replica", sha256=blob.sha256,
                    content_type=blob.content_type, tenant_id=blob.tenant_id)
"""


class Bench:
    def __init__(self, env: dict[str, str], base: Path) -> None:
        self.env, self.base = env, base

    def manage(self, *args: str) -> tuple[float, str]:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=3600
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return time.monotonic() - started, done.stdout

    def psql(self, sql: str, dbname: str = "postgres") -> None:
        subprocess.run(
            [str(EMBEDDED_BIN / "psql"), "-q", "-h", self.env["EMBEDDED_PG_SOCKET_DIR"], "-U", "postgres",
             "-d", dbname, "-c", sql],
            check=True, capture_output=True, env=self.env,
        )  # fmt: skip


def _seconds(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1)) if found else None


def _phases(bench: Bench, backup: Path, files: int) -> dict:
    """Each command timed as a whole (process start included) and, where it prints them,
    its own phases."""
    figures: dict = {}
    wall, out = bench.manage("backup", str(backup))
    info = json.loads((backup / "backup.json").read_text())
    figures["objects"], figures["bytes"] = info["manifest"]["objects"], info["manifest"]["bytes"]
    figures["backup_s"] = wall
    wall, out = bench.manage("restore", str(backup), "--no-input")
    figures["restore_s"] = wall
    figures["restore_database_s"] = _seconds(r"database restored in ([\d.]+) s", out)
    figures["restore_check_s"] = _seconds(r"objects checked in ([\d.]+) s", out)
    bench.manage("shell", "-c", "from files import storage\nfor o in list(storage.object_keys('tenants/')):\n"
                                "    storage.object_delete(o['Key'])")  # fmt: skip
    wall, out = bench.manage("restore", str(backup), "--no-input", "--objects-from-replica")
    figures["restore_from_replica_s"] = wall
    figures["restore_copy_s"] = _seconds(r"objects checked in ([\d.]+) s", out)
    figures["write_manifests_s"], _ = bench.manage("write_manifests")
    bench.psql("DROP DATABASE mediaportal WITH (FORCE)")
    bench.psql("CREATE DATABASE mediaportal")
    bench.manage("migrate", "-v0")
    wall, out = bench.manage("restore_from_bucket")
    figures["restore_from_bucket_s"] = wall
    figures["restore_from_bucket_inner_s"] = _seconds(r"files in ([\d.]+) s", out)
    return figures


def measure(*, files: int = 2000, size: int = 20_000, log=print) -> dict:
    base = Path(tempfile.mkdtemp(prefix="mp-bench-backup-"))
    stack = EmbeddedStack(var_dir=base / "stack", log=lambda line: None)
    (base / "stack").mkdir()
    try:
        stack_env = stack.start(postgres=True, redis=True, s3=True, replica=True)
        env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and not k.startswith("S3_")}
        env.update(stack_env, MEDIAPORTAL_VAR_DIR=str(base / "stack"), SECRET_KEY="bench-" + "x" * 50,
                   S3_PUBLIC_ENDPOINT_URL=stack_env["S3_ENDPOINT_URL"], LOG_LEVEL="WARNING")  # fmt: skip
        bench = Bench(env, base)
        bench.manage("migrate", "-v0")
        log(f"seeding {files} files of {size} bytes...")
        seeded, _ = bench.manage("shell", "-c", SEED.format(files=files, size=size))
        log(f"  seeded in {seeded:.0f} s")
        figures = {"files": files, "file_bytes": size, **_phases(bench, base / "backup", files)}
    finally:
        stack.stop()
        shutil.rmtree(base, ignore_errors=True)
    return figures


def report(figures: dict) -> str:
    files, mb = figures["files"], figures["bytes"] / 1e6
    rows = [
        ("backup DIR", figures["backup_s"], None),
        ("restore DIR (objects present)", figures["restore_s"], None),
        ("  of which the database", figures["restore_database_s"], None),
        ("  of which HEAD of every object", figures["restore_check_s"], None),
        ("restore DIR --objects-from-replica (primary empty)", figures["restore_from_replica_s"], None),
        ("  of which copying the objects back", figures["restore_copy_s"], mb),
        ("write_manifests", figures["write_manifests_s"], None),
        ("restore_from_bucket (empty migrated database)", figures["restore_from_bucket_s"], None),
        ("  of which the restore itself", figures["restore_from_bucket_inner_s"], None),
    ]
    lines = [f"{files} files ({figures['objects']} objects, {mb:.0f} MB); whole commands include ~2 s of start-up", ""]
    lines += ["| step | seconds | files/s | MB/s |", "|---|---|---|---|"]
    for name, seconds, volume in rows:
        if seconds:
            throughput = f"{volume / seconds:.1f}" if volume else ""
            lines.append(f"| {name} | {seconds:.1f} | {files / seconds:.0f} | {throughput} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=20_000, help="bytes per file")
    args = parser.parse_args(argv)
    figures = measure(files=args.files, size=args.size)
    print(json.dumps(figures, indent=2))
    print(report(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
