"""The analytics app's Celery tasks. Each takes ids, calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from analytics.services import webhook_delivery


# The delivery's attempt claim makes a task the broker hands out twice do nothing the second time.
@shared_task(name="analytics.deliver_webhook", acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: str, attempt: int) -> str:
    return webhook_delivery.delivery_attempt(delivery_id=delivery_id, attempt=attempt)


@shared_task(name="analytics.webhooks_requeue", acks_late=True, ignore_result=True)
def webhooks_requeue() -> int:
    """Queue again the webhook deliveries whose task was lost."""
    return webhook_delivery.deliveries_requeue()
