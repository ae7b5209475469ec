"""`manage.py requeue_stale [--minutes N]`: queue processing for files stuck in pending or processing.

What the `files.requeue_stale_processing` beat task does every few minutes, for running by
hand (after a broker outage, say) or with another age limit.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand

from files.services.processing import processing_requeue_stale


class Command(BaseCommand):
    help = "Queue processing again for files pending or processing for longer than PROCESSING_STALE_MINUTES."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--minutes",
            type=int,
            default=settings.PROCESSING_STALE_MINUTES,
            help="Age that counts as stuck (default PROCESSING_STALE_MINUTES); keep it above a task's time limit.",
        )

    def handle(self, *args, **options) -> None:
        queued = processing_requeue_stale(older_than=timedelta(minutes=options["minutes"]))
        noun = "file" if queued == 1 else "files"
        self.stdout.write(
            self.style.SUCCESS(
                f"Queued {queued} {noun} stuck in pending or processing for over {options['minutes']} min."
            )
        )
