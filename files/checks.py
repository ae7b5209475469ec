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


@checks.register()
def archive_grace_below_visibility_timeout(app_configs, **kwargs) -> list[checks.CheckMessage]:
    # The primary copy's delete is a task with the grace as countdown: a Redis broker hands a
    # task held longer than its visibility timeout to another worker as well.
    grace = max(settings.ARCHIVE_PRIMARY_GRACE_SECONDS, settings.S3_PRESIGN_SECONDS + 60)
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    if grace + 5 < timeout:
        return []
    return [
        checks.Warning(
            f"ARCHIVE_PRIMARY_GRACE_SECONDS ({grace} s) is not below CELERY_VISIBILITY_TIMEOUT ({timeout} s): each "
            "archived blob's delayed delete will run more than once (harmlessly) until it is shortened.",
            id="files.W001",
        )
    ]
