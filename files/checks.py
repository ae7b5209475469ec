"""System checks for settings of the files app that only make sense together."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register()
def processing_stale_after_time_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    from files.tasks import process_file

    if settings.PROCESSING_STALE_MINUTES * 60 > process_file.time_limit:
        return []
    return [
        checks.Error(
            f"PROCESSING_STALE_MINUTES ({settings.PROCESSING_STALE_MINUTES}) must be longer than a processing "
            f"task's hard time limit ({process_file.time_limit} s), or files still being processed are queued again.",
            id="files.E001",
        )
    ]
