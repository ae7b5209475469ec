"""The load bench for 60 s against `manage.py up`: every request of the mixed workload answered
as it should be. Timings are the bench's business (docs/benchmarks.md), never asserted here."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import psutil
import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

KINDS = ("list", "search", "download", "thumbnail", "share page", "upload")


def _family(proc: subprocess.Popen, var_dir) -> list[psutil.Process]:
    """The bench's descendants (`up`, web, worker, beat) and the services running from var_dir."""
    family = []
    try:
        family += psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        pass
    for candidate in psutil.process_iter(["cmdline"]):
        if str(var_dir) in " ".join(candidate.info["cmdline"] or []):
            family.append(candidate)
    return family


def _alive(pids: list[int]) -> list[str]:
    alive = []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


def _stop(proc: subprocess.Popen, var_dir) -> None:
    """After a failure: SIGTERM makes the bench stop its stack; whatever is left is killed."""
    family = _family(proc, var_dir)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    for process in family + _family(proc, var_dir):
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


def test_a_minute_of_mixed_load_gets_no_errors(tmp_path):
    var_dir, figures = tmp_path / "var", tmp_path / "load.json"
    proc = subprocess.Popen(
        [sys.executable, "bench/load.py", "--duration=60", "--warmup=10", "--photos=60", "--notes=30"]
        + ["--no-write", f"--json={figures}", f"--var-dir={var_dir}"],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=600)
    except BaseException:
        _stop(proc, var_dir)
        raise
    assert proc.returncode == 0, output[-4000:]
    result = json.loads(figures.read_text())
    requests = {row["kind"]: row["requests"] for row in result["rows"]}
    assert all(requests[kind] > 0 for kind in KINDS), requests
    assert result["error_count"] == 0, result["errors"]
    assert result["corpus"]["failed"] == 0
    # The bench stopped everything it started: `up`, its children and the embedded services.
    assert "stopping the stack" in output
    assert _alive(result["pids"]) == []
    assert _alive([process.pid for process in _family(proc, var_dir)]) == []
