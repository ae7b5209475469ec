"""System checks for settings of the files app that only make sense together."""

from __future__ import annotations

from django.conf import settings
from django.core import checks


@checks.register()
def processing_stale_after_time_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    if settings.PROCESSING_STALE_MINUTES * 60 > settings.PROCESSING_TIME_LIMIT:
        return []
    return [
        checks.Error(
            f"PROCESSING_STALE_MINUTES ({settings.PROCESSING_STALE_MINUTES}) must be longer than a processing "
            f"task's hard time limit ({settings.PROCESSING_TIME_LIMIT} s), or files still being processed are "
            "queued again.",
            id="files.E001",
        )
    ]


@checks.register()
def processing_soft_before_hard_time_limit(app_configs, **kwargs) -> list[checks.CheckMessage]:
    # At the hard limit the run is killed and leaves no outcome; only the soft one fails the file.
    if 0 < settings.PROCESSING_SOFT_TIME_LIMIT < settings.PROCESSING_TIME_LIMIT:
        return []
    return [
        checks.Error(
            f"PROCESSING_SOFT_TIME_LIMIT ({settings.PROCESSING_SOFT_TIME_LIMIT} s) must be positive and below "
            f"PROCESSING_TIME_LIMIT ({settings.PROCESSING_TIME_LIMIT} s), or a run that takes too long is killed "
            "without failing its file.",
            id="files.E002",
        )
    ]
