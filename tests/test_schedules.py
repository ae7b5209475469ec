"""Beat schedules: installed once with their defaults, then the admin's to change.

django-celery-beat's DatabaseScheduler writes CELERY_BEAT_SCHEDULE over its tables at every
start, so defaults kept there undid admin edits; the defaults are installed after `migrate`
instead, only where missing.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_beat.schedulers import DatabaseScheduler

import analytics.tasks  # noqa: F401 - registers the tasks
import files.tasks  # noqa: F401 - registers the tasks
from mediaportal.celery import app

pytestmark = pytest.mark.django_db

# DESIGN.md §6 with the task that does (or will do) each job. Only those whose task exists can
# be installed; the others are still to be written.
DESIGN_SCHEDULES = {
    "archive sweep": ("files.archive_sweep", timedelta(days=1)),
    "noncurrent-version archive": ("files.noncurrent_archive", timedelta(days=1)),
    "trash purge": ("files.trash_purge_expired", timedelta(days=1)),
    "share-link expiry": ("sharing.share_links_expire", timedelta(hours=1)),
    "replication reconcile": ("files.replication_reconcile", timedelta(hours=1)),
    "integrity scrub": ("files.integrity_scrub", timedelta(weeks=1)),
    # §6 said hourly; 5.1 settled that today's activity shows in usage within a minute.
    "usage roll-up": ("analytics.roll_up_usage", timedelta(minutes=1)),
    "bucket manifest": ("files.write_manifests", timedelta(hours=1)),
}
# Sweeps the code has beyond those.
OTHER_SCHEDULES = {
    "files.upload_sessions_expire": timedelta(hours=1),
    "files.upload_keys_expire": timedelta(hours=1),
    "files.orphan_sweep": timedelta(hours=6),
    "files.requeue_stale_processing": timedelta(minutes=5),
    "files.exports_expire": timedelta(days=1),
    "analytics.snapshot_storage": timedelta(minutes=5),
    "analytics.check_alerts": timedelta(minutes=5),
}


def every(task: PeriodicTask) -> timedelta:
    return timedelta(**{task.interval.period: task.interval.every})


def rows() -> list[tuple]:
    return sorted(
        PeriodicTask.objects.values_list("name", "task", "interval__every", "interval__period", "enabled", "crontab")
    )


def test_every_scheduled_job_that_exists_is_installed():
    installed = {task.task: every(task) for task in PeriodicTask.objects.filter(enabled=True)}
    existing = {task: period for task, period in DESIGN_SCHEDULES.values() if task in app.tasks}
    assert "files.trash_purge_expired" in existing
    assert installed == {**existing, **OTHER_SCHEDULES}
    assert set(installed) <= set(app.tasks)


# The scheduler manages its own database connection (close_old_connections), as a beat process
# does, which a test's enclosing transaction would not survive.
@pytest.mark.django_db(transaction=True)
def test_admin_edits_survive_a_beat_restart_and_a_migrate():
    DatabaseScheduler(app=app)  # what `celery beat` does as it starts
    trash = PeriodicTask.objects.get(task="files.trash_purge_expired")
    trash.interval = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.DAYS)
    trash.save()
    PeriodicTask.objects.filter(task="files.orphan_sweep").update(enabled=False)
    edited = rows()

    DatabaseScheduler(app=app)  # beat started again
    call_command("migrate", verbosity=0)  # as every deployment does

    assert rows() == edited
    assert every(PeriodicTask.objects.get(task="files.trash_purge_expired")) == timedelta(days=2)


def test_a_missing_default_is_installed_again_by_migrate():
    PeriodicTask.objects.filter(task="files.requeue_stale_processing").delete()
    call_command("migrate", verbosity=0)
    assert every(PeriodicTask.objects.get(task="files.requeue_stale_processing")) == timedelta(minutes=5)
