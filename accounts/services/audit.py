"""The audit trail: one event per change, written in the change's own transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from accounts.models import ActivityEvent


def event_record(
    *,
    verb: str,
    tenant=None,
    actor=None,
    target: models.Model | None = None,
    ip: str | None = None,
    data: dict[str, Any] | None = None,
) -> ActivityEvent:
    """Write one activity event; callers do it inside the transaction of the change it describes."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    return ActivityEvent.objects.create(
        tenant=tenant,
        user=user,
        verb=verb,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:300] if target is not None else "",
        ip=ip,
        data=data or {},
    )


def event_record_many(
    *, verb: str, tenant, targets, actor=None, ip: str | None = None, data: dict[str, Any] | None = None
) -> int:
    """One event per target, written in one INSERT: for sweeps that change many objects in one
    transaction (each still gets its own event); returns how many."""
    user = actor if actor is not None and getattr(actor, "is_authenticated", False) else None
    events = [
        ActivityEvent(
            tenant=tenant,
            user=user,
            verb=verb,
            target_type=target._meta.model_name,
            target_id=str(target.pk),
            target_repr=str(target)[:300],
            ip=ip,
            data=data or {},
        )
        for target in targets
    ]
    ActivityEvent.objects.bulk_create(events)
    return len(events)
