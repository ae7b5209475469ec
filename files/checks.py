"""System checks for settings of the files app that only make sense together."""

from __future__ import annotations

from django.conf import settings
from django.core import checks

from files.services.processing import TASK_TIME_LIMIT


@checks.register()
def processing_stale_after_time_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.PROCESSING_STALE_MINUTES * 60 > TASK_TIME_LIMIT:
        return []
    return [
        checks.Error(
            f"PROCESSING_STALE_MINUTES ({settings.PROCESSING_STALE_MINUTES}) must be longer than a processing "
            f"task's hard time limit ({TASK_TIME_LIMIT} s), or files still being processed are queued again.",
            id="files.E001",
        )
    ]
