"""Periodic maintenance for the files app. Tasks take no model instances and are safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from files.services import blobs, direct, trash

log = logging.getLogger(__name__)

MAINTENANCE = {"queue": "maintenance", "acks_late": True, "ignore_result": True}


@shared_task(name="files.trash_purge_expired", **MAINTENANCE)
def trash_purge_expired() -> int:
    return trash.trash_purge_expired()


@shared_task(name="files.upload_sessions_expire", **MAINTENANCE)
def upload_sessions_expire() -> int:
    return direct.upload_sessions_expire()


@shared_task(name="files.orphan_sweep", **MAINTENANCE)
def orphan_sweep() -> int:
    return blobs.orphan_sweep()
