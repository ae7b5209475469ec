"""gunicorn settings that need code (`--config=python:mediaportal.gunicorn_conf`)."""

from __future__ import annotations

import os

from prometheus_client import multiprocess


def child_exit(server, worker) -> None:
    """A web worker exited: its metric files stop counting as live (mediaportal.metrics)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
