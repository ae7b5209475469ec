"""The analytics app's Celery tasks. Each calls one service and is safe to run twice; roll-ups
on queue `maintenance`, deliveries on `webhooks` (schedules in mediaportal/schedules.py)."""

from __future__ import annotations

import logging
import time

from celery import shared_task

from analytics.services import webhook_delivery
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


@shared_task(name="analytics.check_alerts", **MAINTENANCE)
def check_alerts() -> int:
    """Raise and clear every tenant's quota and budget alerts (beat: every five minutes)."""
    return alerts_check_all()


# The delivery's attempt claim makes a task the broker hands out twice do nothing the second time.
@shared_task(name="analytics.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str, attempt: int) -> str:
    return webhook_delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)


@shared_task(name="analytics.webhooks_requeue", acks_late=True, ignore_result=True)
def webhooks_requeue() -> int:
    """Queue again the webhook deliveries whose task was lost."""
    return webhook_delivery.deliveries_requeue()
