"""The analytics app's Celery tasks. Each calls one service and is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from analytics.services.alerts import alerts_check_all


@shared_task(name="analytics.check_alerts")
def check_alerts() -> int:
    """Raise and clear every tenant's quota and budget alerts (beat: every five minutes)."""
    return alerts_check_all()
