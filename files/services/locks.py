"""The advisory locks that guard stored bytes and the quota, and the one order of all locks.

Lock order
----------
Every transaction takes the locks it needs in this order:

1. a direct upload's session row (`upload_session_complete`), which no other holder of a
   content lock ever waits for;
2. the content lock of the one content address it writes (`content_lock`); a transaction
   that changes many addresses' tier at once (the archive sweep) takes theirs in key order
   (`content_locks`) before any row lock;
3. row locks: folders (a chain root first, `folder_lock_for_write`), then files, then
   blobs; several rows of one kind in id order;
4. the tenant's quota lock (`quota_lock`), last, just before the commit.

The purge's after-commit object delete and the orphan sweep take a content lock while they
hold nothing else; a purge's own transaction and restoring a version take none (the old
version keeps its blob). So content locks add no deadlock; a row-lock race that still ends
in one is a 409 `retry` (`atomic_or_conflict`), never a 500.
"""

from __future__ import annotations

import hashlib

from django.db import connection

# pg_advisory_xact_lock(int, int) keys, a space apart from the content locks' bigint keys.
QUOTA_LOCK_CLASS = 1


def _content_lock_id(tenant_id, sha256: str) -> int:
    # A signed 64-bit key for pg_advisory_xact_lock(bigint). A collision only makes two
    # addresses wait for each other, never lets two holders in at once.
    digest = hashlib.blake2b(f"blob:{tenant_id}:{sha256}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def content_lock(*, tenant_id, sha256: str) -> None:
    """Hold the lock of the content address (tenant, sha256) until the transaction ends;
    what it protects is in files.services.blobs."""
    if not connection.in_atomic_block:
        # In autocommit the lock would be released the moment it was taken.
        raise RuntimeError("content_lock needs a transaction")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_content_lock_id(tenant_id, sha256)])


def content_locks(*, tenant_id, sha256s) -> None:
    """Hold the locks of several content addresses of the tenant until the transaction ends,
    taken in one order (their keys') so two holders of overlapping sets never deadlock."""
    if not connection.in_atomic_block:
        raise RuntimeError("content_locks needs a transaction")
    with connection.cursor() as cursor:
        for lock_id in sorted({_content_lock_id(tenant_id, sha256) for sha256 in sha256s}):
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def _quota_lock_id(tenant_id) -> int:
    # A collision only makes two tenants' final quota counts wait for each other.
    return int.from_bytes(hashlib.blake2b(str(tenant_id).encode(), digest_size=4).digest(), "big", signed=True)


def quota_lock(*, tenant_id) -> None:
    """Hold the tenant's quota lock until the transaction ends (files.services.quota)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [QUOTA_LOCK_CLASS, _quota_lock_id(tenant_id)])
