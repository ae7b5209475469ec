"""gunicorn settings that need code (`--config=python:mediaportal.gunicorn_conf`)."""

from __future__ import annotations

import os

from mediaportal.env import metrics_dir

# gunicorn's master reads this file without Django's settings, and its workers inherit what
# prometheus_client chose at import: the folder must be in the environment before that
# import, or every web worker counts in its own memory, which /metrics never reads.
metrics_dir()

from prometheus_client import multiprocess  # noqa: E402


def child_exit(server, worker) -> None:
    """A web worker exited: its metric files stop counting as live (mediaportal.metrics)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
