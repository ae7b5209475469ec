"""The Celery application: configuration comes from Django settings (CELERY_*).

Also what every worker shares with the web processes: their log lines (Django's LOGGING,
JSON by default, instead of Celery's own format) and the request id, carried in a task's
message headers from the request that queued it to the worker that runs it.
"""

from __future__ import annotations

import logging.config
import os

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun
from django.conf import settings
from kombu import Exchange, Queue

from mediaportal.request_id import request_id_get, request_id_sane, request_id_set

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")

app = Celery("mediaportal")
app.config_from_object("django.conf:settings", namespace="CELERY")
QUEUES = ("processing", "maintenance", "replication", "webhooks")
app.conf.task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES)
app.autodiscover_tasks()

# The task message header holding the id of the request (or task) that queued it.
REQUEST_ID_HEADER = "mediaportal_request_id"


@setup_logging.connect
def _logging_as_django_configures_it(**kwargs) -> None:
    # With a receiver here Celery leaves the root logger alone, so a worker's lines have the
    # format and the redaction of the web's (LOG_FORMAT, mediaportal.logs).
    logging.config.dictConfig(settings.LOGGING)


@before_task_publish.connect
def _send_request_id(headers=None, **kwargs) -> None:
    request_id = request_id_get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


@task_prerun.connect
def _take_request_id(task=None, **kwargs) -> None:
    # A worker makes a message's headers attributes of the task's request; `apply(headers=)`
    # (a task run in-process) keeps them under `headers`. Anything but a sane id (a message
    # from elsewhere) is left out of the logs.
    request = task.request if task is not None else None
    request_id = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    request_id_set(request_id if request_id_sane(request_id) else None)


@task_postrun.connect
def _drop_request_id(**kwargs) -> None:
    request_id_set(None)
