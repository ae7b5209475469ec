"""Backups: a database dump and the list of every stored object it refers to, consistent
with each other.

A backup is a folder: `database.dump` (pg_dump's custom format), `manifest.jsonl` (one
line per object the database refers to: blobs in the primary or archive bucket by tier,
renditions in the primary) and `backup.json` (when, from which schema, counts, checksums),
written last, so a folder without it is an unfinished backup. The dump and the manifest
read one snapshot: this process's REPEATABLE READ transaction exports it, pg_dump imports
it (`--snapshot`), and the manifest is read in the same transaction meanwhile.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from accounts.models import Membership, Tenant, User
from files.models import Blob, BlobTier, File, FileVersion, Folder, Rendition
from mediaportal.pgtools import pg_environment, pg_tool, server_major

log = logging.getLogger(__name__)

FORMAT = "mediaportal-backup"
DUMP_NAME = "database.dump"
MANIFEST_NAME = "manifest.jsonl"
INFO_NAME = "backup.json"
# Rows read from the server-side cursor at a time.
CHUNK = 2000

Progress = Callable[[int], None]


class BackupError(RuntimeError):
    """The backup or restore cannot go on; the message says why."""


def blob_role(tier: str) -> str:
    """The bucket role a blob's object lives in for its tier."""
    return "primary" if tier == BlobTier.HOT else "archive"


def _manifest_lines() -> Iterator[dict]:
    blobs = Blob.objects.order_by("tenant_id", "sha256").values_list(
        "tenant_id", "sha256", "size", "content_type", "storage_key", "tier"
    )
    for tenant_id, sha256, size, content_type, key, tier in blobs.iterator(chunk_size=CHUNK):
        yield {
            "kind": "blob",
            "key": key,
            "role": blob_role(tier),
            "tier": tier,
            "tenant": str(tenant_id),
            "sha256": sha256,
            "size": size,
            "content_type": content_type,
        }
    # Identical bytes under two kinds share one object (files.services.processing_run): one line.
    renditions = Rendition.objects.order_by("storage_key").values_list(
        "tenant_id", "blob__sha256", "storage_key", "sha256", "size", "format"
    )
    previous = None
    for tenant_id, blob_sha256, key, sha256, size, fmt in renditions.iterator(chunk_size=CHUNK):
        if key == previous:
            continue
        previous = key
        yield {
            "kind": "rendition",
            "key": key,
            "role": "primary",
            "tenant": str(tenant_id),
            "blob": blob_sha256,
            "sha256": sha256,
            "size": size,
            "content_type": f"image/{fmt}",
        }


def _counts() -> dict[str, int]:
    return {
        "tenants": Tenant.objects.count(),
        "users": User.objects.count(),
        "memberships": Membership.objects.count(),
        "folders": Folder.objects.count(),
        "files": File.objects.count(),
        "versions": FileVersion.objects.count(),
        "blobs": Blob.objects.count(),
        "renditions": Rendition.objects.count(),
    }


def _applied_migrations() -> list[str]:
    """The migrations the dump holds, as "app.name"."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
        return [f"{app}.{name}" for app, name in cursor.fetchall()]


def code_migrations() -> set[tuple[str, str]]:
    """Every migration this code has (applied or not)."""
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def backup_directory_prepare(directory: Path) -> None:
    """Create the folder; one that exists must be empty (a backup is never mixed with another)."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(f"{directory} exists and is not an empty folder")
    directory.mkdir(parents=True, exist_ok=True)


def backup_write(
    *, directory: Path, progress: Progress | None = None, total: Callable[[int], None] | None = None
) -> dict:
    """Write a backup into `directory` (created; it must not hold anything); returns what
    backup.json says. `total` is told how many objects the manifest will list, `progress`
    how many more were written."""
    backup_directory_prepare(directory)
    if connection.in_atomic_block:
        raise BackupError("a backup takes its own snapshot: call it outside any transaction")
    dump_path, manifest_path = directory / DUMP_NAME, directory / MANIFEST_NAME
    pg_dump, pg_dump_major = pg_tool("pg_dump", at_least=server_major())
    started = timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot = cursor.fetchone()[0]
        command = [str(pg_dump), "--format=custom", "--no-owner", "--no-acl", f"--snapshot={snapshot}",
                   f"--file={dump_path}"]  # fmt: skip
        with tempfile.TemporaryFile() as errors:
            # pg_dump runs beside the manifest's reads, on the snapshot this transaction holds open.
            dump = subprocess.Popen(command, env=pg_environment(), stderr=errors, stdin=subprocess.DEVNULL)
            try:
                counts = _counts()
                if total:
                    total(counts["blobs"] + counts["renditions"])
                manifest = _manifest_write(manifest_path, progress)
                migrations = _applied_migrations()
            finally:
                code = dump.wait()
            errors.seek(0)
            if code != 0:
                raise BackupError(f"pg_dump failed ({code}): {errors.read().decode(errors='replace').strip()}")
    info = {
        "format": FORMAT,
        "version": 1,
        "created_at": started.isoformat(),
        "finished_at": timezone.now().isoformat(),
        "database": {
            "file": DUMP_NAME,
            "size": dump_path.stat().st_size,
            "sha256": _sha256_of(dump_path),
            "server_major": server_major(),
            "pg_dump_major": pg_dump_major,
        },
        "manifest": {"file": MANIFEST_NAME, **manifest},
        "migrations": migrations,
        "counts": counts,
    }
    (directory / INFO_NAME).write_text(json.dumps(info, indent=2) + "\n")
    log.info("backup written to %s: %s", directory, counts)
    return info


def _manifest_write(path: Path, progress: Progress | None) -> dict:
    objects = size = 0
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for line in _manifest_lines():
            data = (json.dumps(line, separators=(",", ":")) + "\n").encode()
            out.write(data)
            digest.update(data)
            objects += 1
            size += line["size"]
            if progress:
                progress(1)
    return {"objects": objects, "bytes": size, "sha256": digest.hexdigest()}


def backup_read(directory: Path) -> dict:
    """backup.json of a finished backup, its files checked against the checksums it holds."""
    try:
        info = json.loads((directory / INFO_NAME).read_text())
    except FileNotFoundError:
        raise BackupError(f"{directory} holds no finished backup (no {INFO_NAME})") from None
    if info.get("format") != FORMAT:
        raise BackupError(f"{directory / INFO_NAME} is not a MediaPortal backup")
    for part in ("database", "manifest"):
        path = directory / info[part]["file"]
        if not path.is_file() or _sha256_of(path) != info[part]["sha256"]:
            raise BackupError(f"{path} is missing or damaged (its SHA-256 is not the one in {INFO_NAME})")
    return info


def manifest_read(directory: Path, info: dict) -> Iterator[dict]:
    with open(directory / info["manifest"]["file"], "rb") as lines:
        for line in lines:
            yield json.loads(line)
