"""Domain events: what happened in a tenant, told to whoever listens once it is committed.

The apps that make things happen (files, sharing) sit below the one that reacts to them
(analytics: webhooks, alerts, share receipts), and may not import it. They publish here;
analytics connects its receivers when it loads. Events are sent after the transaction that
made them commits (never for a change that was rolled back), and a receiver that fails is
logged and does not fail the change that was already made.

Names are those of the webhook contract (DESIGN 5.1): `file.completed`, `file.failed`,
`file.archived`, `file.restored`, `share.opened`, `share.downloaded`, `quota.warning`,
`budget.warning`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# Receivers get keyword arguments `tenant_id`, `event` (a name above) and `data` (a dict that
# JSON can encode: what a webhook delivery carries).
domain_event = Signal()


def event_publish(*, tenant_id, event: str, data: dict[str, Any]) -> None:
    """Tell the receivers of `domain_event` about `event` once the current transaction commits
    (at once outside one)."""
    transaction.on_commit(lambda: _send(tenant_id=tenant_id, event=event, data=data))


def _send(*, tenant_id, event: str, data: dict[str, Any]) -> None:
    for receiver, result in domain_event.send_robust(sender=None, tenant_id=tenant_id, event=event, data=data):
        if isinstance(result, Exception):
            log.error("receiver %s of %s failed", getattr(receiver, "__qualname__", receiver), event, exc_info=result)
