"""The default beat schedule, installed into django-celery-beat's tables and the admin's to
change afterwards.

CELERY_BEAT_SCHEDULE stays empty: django-celery-beat writes that setting over its tables
(update_or_create) each time beat starts, which undid every edit made in the admin. Instead,
after every `migrate` (`up` runs one, and so does each deployment), each default below is
created if no periodic task of that name exists, and an existing one is never touched. To
stop one, disable it in the admin: a deleted default comes back at the next migrate.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DEFAULT_DB_ALIAS, connections
from django_celery_beat.models import IntervalSchedule, PeriodicTask

log = logging.getLogger(__name__)

# name → (task, interval). Tasks take no arguments and are safe to run twice (DESIGN.md §6).
DEFAULT_SCHEDULES: dict[str, tuple[str, timedelta]] = {
    "trash-purge": ("files.trash_purge_expired", timedelta(days=1)),
    "upload-sessions-expire": ("files.upload_sessions_expire", timedelta(hours=1)),
    "upload-keys-expire": ("files.upload_keys_expire", timedelta(hours=1)),
    "orphan-sweep": ("files.orphan_sweep", timedelta(hours=6)),
    "processing-requeue-stale": ("files.requeue_stale_processing", timedelta(minutes=5)),
    "archive-sweep": ("files.archive_sweep", timedelta(days=1)),
    "exports-expire": ("files.exports_expire", timedelta(days=1)),
    "bucket-manifests": ("files.write_manifests", timedelta(hours=1)),
    "replication-reconcile": ("files.replication_reconcile", timedelta(hours=1)),
    "integrity-scrub": ("files.integrity_scrub", timedelta(weeks=1)),
    # DESIGN 5.1: today's activity shows in usage within a minute.
    "usage-roll-up": ("analytics.roll_up_usage", timedelta(minutes=1)),
    # Tenants that changed; every tenant once an hour (the history's row per hour).
    "storage-snapshots": ("analytics.snapshot_storage", timedelta(minutes=5)),
    "alerts-check": ("analytics.check_alerts", timedelta(minutes=5)),
}

_PERIODS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))


def _interval(every: timedelta):
    """An interval in the largest whole unit ("every 6 hours" in the admin, not 21600 seconds)."""
    seconds = int(every.total_seconds())
    period, size = next((period, size) for period, size in _PERIODS if seconds % size == 0)
    # Not get_or_create: nothing stops the admin from making duplicate intervals.
    existing = IntervalSchedule.objects.filter(every=seconds // size, period=period).order_by("pk").first()
    return existing or IntervalSchedule.objects.create(every=seconds // size, period=period)


def schedules_install() -> list[str]:
    """Create the default periodic tasks that do not exist yet (by name); returns their names."""
    created = []
    for name, (task, every) in DEFAULT_SCHEDULES.items():
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        _task, made = PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "interval": _interval(every)}
        )
        if made:
            created.append(name)
            log.info("installed the default schedule %s (%s every %s)", name, task, every)
    return created


def install_after_migrate(*, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate receiver for django-celery-beat's app."""
    # Also sent after migrating backwards (`migrate django_celery_beat zero`), tables gone.
    if (
        using == DEFAULT_DB_ALIAS
        and "django_celery_beat_periodictask" in connections[using].introspection.table_names()
    ):
        schedules_install()
