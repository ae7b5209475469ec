"""The sharing app's Celery tasks. Services queue them by name; nothing imports this module."""

from __future__ import annotations

from celery import shared_task

from sharing.services import receipts


@shared_task(name="sharing.notify_first_open", acks_late=True, ignore_result=True)
def notify_first_open(share_id: str) -> bool:
    return receipts.first_open_notify(share_id=share_id)
