"""Reading from the replica region when the primary one lacks an object or is down.

A primary that stops answering would cost every read a timeout; once a call to a role has
failed, the role counts as down in this process for DOWN_SECONDS, and reads go straight to
the next role meanwhile. The verdict is per process on purpose: nothing shared has to be
reachable to reach it, and it expires on its own.
"""

from __future__ import annotations

import threading
import time

from botocore.exceptions import ClientError

from files.storage import (
    OpenedObject,
    StorageUnavailable,
    _is_missing,
    bucket_storage,
    object_open,
    storage_errors,
)

# How long a role that failed a call counts as down here: long enough that a dead primary
# costs one request in a few a timeout, short enough that a primary back is used again soon.
DOWN_SECONDS = 5.0

_down_until: dict[str, float] = {}
_lock = threading.Lock()


def role_down(role: str) -> bool:
    """Whether a call to the role failed less than DOWN_SECONDS ago in this process."""
    return time.monotonic() < _down_until.get(role, 0.0)


def role_failed(role: str) -> None:
    with _lock:
        _down_until[role] = time.monotonic() + DOWN_SECONDS


def role_answered(role: str) -> None:
    with _lock:
        _down_until.pop(role, None)


def failover_reset(*, setting: str, **kwargs) -> None:
    """`setting_changed` receiver: S3 settings pointing elsewhere (tests start servers of
    their own) forget which roles were down."""
    if setting.startswith("S3_"):
        with _lock:
            _down_until.clear()


def object_probe(key: str, role: str = "primary") -> dict | None:
    """The object's headers (None when it does not exist) by one short HEAD (the storage's
    probe client: about 3 s at worst). `StorageUnavailable` when the role does not answer,
    which also marks it down (`role_down`)."""
    storage = bucket_storage(role)
    try:
        with storage_errors("head"):
            head = storage.probe_client.head_object(Bucket=storage.bucket_name, Key=key)
    except ClientError as exc:  # missing (or a 412, which a HEAD without conditions never gets)
        if _is_missing(exc):
            role_answered(role)
            return None
        raise
    except StorageUnavailable:
        role_failed(role)
        raise
    role_answered(role)
    return head


def object_open_first(key: str, roles: tuple[str, ...]) -> tuple[OpenedObject, str] | None:
    """Start reading the object from the first of `roles` that has it, and that role. A role
    marked down is skipped unless it is the last. None when every role answered that it has
    no such object; `StorageUnavailable` when none had it and one of them was down (it may
    hold the object)."""
    unavailable = False
    for position, role in enumerate(roles):
        if role_down(role) and position < len(roles) - 1:
            unavailable = True
            continue
        try:
            opened = object_open(key, role=role)
        except StorageUnavailable:
            role_failed(role)
            unavailable = True
            continue
        if opened is not None:
            return opened, role
    if unavailable:
        raise StorageUnavailable()
    return None
