"""The portal's Prometheus metrics, counted in every web and worker process and summed at
scrape time (`/metrics`, analytics.monitoring).

prometheus_client runs in multiprocess mode: each process writes its values to files under
PROMETHEUS_MULTIPROC_DIR, which the settings put in the environment before anything imports
prometheus_client (it picks its storage at import). `manage.py up` empties the folder as it
starts; a deployment that runs gunicorn and Celery itself must do the same (see README).
Values read at scrape time (queue depth, replication lag, archive bytes) are not stored here:
analytics.monitoring collects them when asked.
"""

from __future__ import annotations

import os

from celery.signals import worker_process_shutdown
from prometheus_client import Counter, Histogram, multiprocess

# Seconds. Requests: API calls take milliseconds, uploads and ZIPs up to minutes.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
# Processing: a text file takes milliseconds, a 12 MP photo about a second, the soft time limit minutes.
PROCESSING_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

REQUEST_SECONDS = Histogram(
    "mediaportal_http_request_duration_seconds",
    "Time to answer a request, by view (URL name), method and status class (2xx ... 5xx).",
    ["view", "method", "status"],
    buckets=REQUEST_BUCKETS,
)
UPLOADS = Counter(
    "mediaportal_uploads",
    "Uploads stored (new files and new versions; a replayed Idempotency-Key is not one), by type.",
    ["type"],
)
UPLOAD_BYTES = Counter("mediaportal_upload_bytes", "Bytes of the uploads counted in mediaportal_uploads.", ["type"])
PROCESSING_SECONDS = Histogram(
    "mediaportal_processing_duration_seconds",
    "Time a processing run took, by file type and outcome (completed or failed).",
    ["type", "outcome"],
    buckets=PROCESSING_BUCKETS,
)
PROCESSING_FAILURES = Counter(
    "mediaportal_processing_failures",
    "Files whose processing failed, by file type and error code (the file's error_code).",
    ["type", "code"],
)
# Incremented by analytics.services.webhook_delivery for each attempt that fails (an error
# answer, a timeout, a refused target), labelled with the delivery's event name.
WEBHOOK_FAILURES = Counter(
    "mediaportal_webhook_delivery_failures",
    "Webhook delivery attempts that failed, by event.",
    ["event"],
)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


@worker_process_shutdown.connect
def _worker_process_gone(pid=None, **kwargs) -> None:
    # Counters and histograms of a dead process stay in the sum (they are totals); this drops
    # its live gauges, should any be added. gunicorn's workers: mediaportal/gunicorn_conf.py.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid or os.getpid())
