from __future__ import annotations

from django.conf import settings

import files.tasks  # noqa: F401 - registers the tasks
from mediaportal.celery import app


def test_tasks_are_routed_to_their_queues():
    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of("files.process_file") == "processing"
    for sweep in (
        "files.trash_purge_expired",
        "files.upload_sessions_expire",
        "files.orphan_sweep",
        "files.reindex_tenant",
    ):
        assert queue_of(sweep) == "maintenance"


def test_beat_schedules_every_sweep():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {"files.trash_purge_expired", "files.upload_sessions_expire", "files.orphan_sweep"}
    assert set(scheduled) <= set(app.tasks)
