"""The Celery application: configuration comes from Django settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")

app = Celery("mediaportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUES = ("processing", "maintenance", "replication", "webhooks")
app.conf.task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES)
app.autodiscover_tasks()
