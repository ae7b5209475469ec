"""The Celery application: configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")

app = Celery("mediaportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("processing"), Queue("maintenance"), Queue("replication"))
app.autodiscover_tasks()
