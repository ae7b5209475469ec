"""Analytics' periodic tasks (queue `maintenance`; schedules in mediaportal/schedules.py).
Each calls one service and is safe to run twice."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from analytics.services.alerts import alerts_check_all
from analytics.services.rollups import usage_roll_up
from analytics.services.snapshots import storage_snapshot_due

log = logging.getLogger(__name__)

MAINTENANCE = {"acks_late": True, "ignore_result": True}


@shared_task(name="analytics.roll_up_usage", **MAINTENANCE)
def roll_up_usage() -> dict:
    started = time.monotonic()
    done = usage_roll_up()
    log.info("usage roll-up: %s in %.3f s", done, time.monotonic() - started)
    return done


@shared_task(name="analytics.snapshot_storage", **MAINTENANCE)
def snapshot_storage() -> dict:
    started = time.monotonic()
    done = storage_snapshot_due()
    log.info("storage snapshots: %s in %.3f s", done, time.monotonic() - started)
    return done


@shared_task(name="analytics.check_alerts")
def check_alerts() -> int:
    """Raise and clear every tenant's quota and budget alerts (beat: every five minutes)."""
    return alerts_check_all()
