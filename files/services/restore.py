"""Restoring a backup (files.services.backup): the database from its dump, then a check of
every object its manifest names against the buckets.

The dump goes in as one transaction (pg_restore writes SQL, psql runs it with
--single-transaction) that first ends every other session of the database, then drops and
recreates the `public` schema: a restore that fails half-way leaves the database as it
was, and one that succeeds leaves nothing of the schema before (tables of later migrations
included). Other processes' queries wait for its locks meanwhile; their connections were
ended, and Django and Celery connect again at their next request or task
(CONN_HEALTH_CHECKS).
"""

from __future__ import annotations

import functools
import itertools
import logging
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connections, transaction
from django.utils import timezone

from files import storage
from files.models import Blob, BlobTier
from files.services.backup import BackupError, code_migrations
from files.services.locks import content_lock
from files.storage.transfer import ObjectCorrupt, ObjectMissing, object_copy_from
from mediaportal.pgtools import pg_environment, pg_tool, server_major

log = logging.getLogger(__name__)

# What runs before the dump's SQL, in its transaction.
PREAMBLE = (
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid();"
    " DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;"
)
# HEADs in flight while checking objects (each waits on the network almost all the time);
# no more than the S3 client's connection pool (10).
CHECK_THREADS = 8


def migrations_check(info: dict) -> list[tuple[str, str]]:
    """The migrations this code has that the dump lacks (`migrate` applies them after the
    restore); BackupError when the dump was made by newer code than this."""
    dumped = {tuple(entry.split(".", 1)) for entry in info["migrations"]}
    unknown = sorted(dumped - code_migrations())
    if unknown:
        names = ", ".join(f"{app}.{name}" for app, name in unknown[:5])
        raise BackupError(f"the backup comes from newer code (migrations this code lacks: {names}); upgrade first")
    return sorted(code_migrations() - dumped)


def database_restore(*, directory: Path, info: dict) -> None:
    """Replace the database's contents by the backup's dump, in one transaction."""
    at_least = max(server_major(), info["database"].get("pg_dump_major", 0))
    pg_restore, _ = pg_tool("pg_restore", at_least=at_least)
    psql, _ = pg_tool("psql", at_least=at_least)
    env = pg_environment()
    # Our own connection would be ended by the preamble anyway.
    connections.close_all()
    dump = directory / info["database"]["file"]
    with tempfile.TemporaryFile() as restore_errors, tempfile.TemporaryFile() as psql_errors:
        writer = subprocess.Popen(
            [str(pg_restore), "--no-owner", "--no-acl", "--file=-", str(dump)],
            stdout=subprocess.PIPE,
            stderr=restore_errors,
            env=env,
        )
        reader = subprocess.run(
            [str(psql), "-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-o", "/dev/null",
             "-c", PREAMBLE, "-f", "-"],
            stdin=writer.stdout,
            stderr=psql_errors,
            env=env,
            check=False,
        )  # fmt: skip
        writer.stdout.close()
        written = writer.wait()
        if reader.returncode != 0 or written != 0:
            restore_errors.seek(0)
            psql_errors.seek(0)
            detail = (restore_errors.read() + psql_errors.read()).decode(errors="replace").strip()
            raise BackupError(f"the restore failed and changed nothing: {detail[-2000:]}")
    log.warning("database restored from %s", dump)


# --- The objects the manifest names -----------------------------------------------------


@dataclass
class ObjectsReport:
    """What the check found, by outcome: ok (in its bucket), moved (a blob found in the
    other tier's bucket; its row now says so), copied (brought back from the replica,
    verified), replica (only in the replica, not copied), missing (nowhere), error."""

    counts: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (outcome, key)

    @property
    def absent(self) -> int:
        """Objects still not in their bucket after the check."""
        return self.counts["missing"] + self.counts["replica"] + self.counts["error"]


def _present(key: str, role: str, size: int) -> bool:
    head = storage.object_head(key, role)
    return head is not None and head.get("ContentLength", size) == size


def _from_replica(line: dict, *, home: str) -> str:
    object_copy_from(
        line["key"],
        source="replica",
        target=home,
        tenant_id=line["tenant"],
        sha256=line.get("sha256"),
        content_type=line.get("content_type"),
    )
    return "copied"


def _check_one(line: dict, *, copy_from_replica: bool) -> str:
    key, home, size = line["key"], line["role"], line["size"]
    if _present(key, home, size):
        return "ok"
    if line["kind"] == "blob":
        other = "archive" if home == "primary" else "primary"
        if _present(key, other, size):
            return f"moved:{other}"
    if not copy_from_replica:
        return "replica" if _present(key, "replica", size) else "missing"
    try:
        return _from_replica(line, home=home)
    except ObjectMissing:
        return "missing"
    except ObjectCorrupt:
        log.warning("restore: the replica's copy of %s is damaged; not copied", key)
        return "missing"


def _checked(line: dict, *, copy_from_replica: bool) -> tuple[dict, str]:
    try:
        return line, _check_one(line, copy_from_replica=copy_from_replica)
    except Exception as exc:  # noqa: BLE001 - one object's trouble is reported, the check goes on
        log.warning("restore: checking %s failed: %r", line["key"], exc)
        return line, "error"


def objects_check(
    *, lines: Iterable[dict], copy_from_replica: bool = False, on_checked: Callable[[dict, str], None] | None = None
) -> ObjectsReport:
    """HEAD every object the manifest names in its bucket; look for a missing blob in the
    other tier's bucket (its row is corrected), then in the replica (copied back, verified,
    with `copy_from_replica`). `on_checked` is told each line's outcome."""
    report = ObjectsReport()
    check = functools.partial(_checked, copy_from_replica=copy_from_replica)
    with ThreadPoolExecutor(max_workers=CHECK_THREADS, thread_name_prefix="restore-check") as pool:
        # In batches: Executor.map takes its whole input at once, a million lines included.
        for batch in _batches(lines, CHECK_THREADS * 32):
            for line, outcome in pool.map(check, batch):
                if outcome.startswith("moved:"):
                    _tier_follow(tenant_id=line["tenant"], sha256=line["sha256"], role=outcome.split(":", 1)[1])
                    outcome = "moved"
                report.counts[outcome] += 1
                if outcome not in ("ok", "copied"):
                    report.problems.append((outcome, line["key"]))
                if on_checked:
                    on_checked(line, outcome)
    return report


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _tier_follow(*, tenant_id, sha256: str, role: str) -> None:
    """The blob's object is in `role`'s bucket, not where its restored row says (it was
    archived or retrieved after the backup): the row follows the object."""
    with transaction.atomic():
        content_lock(tenant_id=tenant_id, sha256=sha256)
        blob = Blob.objects.select_for_update().filter(tenant_id=tenant_id, sha256=sha256).first()
        if blob is None:
            return
        if role == "archive":
            blob.tier, blob.archived_at = BlobTier.ARCHIVE, blob.archived_at or timezone.now()
        else:
            blob.tier, blob.archived_at = BlobTier.HOT, None
        blob.retrieval_started_at = None
        blob.save(update_fields=["tier", "archived_at", "retrieval_started_at"])
    log.warning("restore: blob %s of tenant %s is in the %s bucket; its tier follows", sha256, tenant_id, role)
