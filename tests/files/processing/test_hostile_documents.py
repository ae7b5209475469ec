"""Documents built to mislead or exhaust a worker: the same bytes get the same outcome in any
worker, whatever it did before, and no document holds a worker's memory or time unbounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings

from files.models import File
from files.processing.documents import extract_document
from files.processing.errors import ProcessingError
from files.services.processing import processing_limits
from files.services.processing_run import file_process
from tests.files.conftest import upload
from tests.files.processing import hostile
from tests.helpers import CORPUS

ENCRYPTED = CORPUS / "document_pdf" / "password-is-test.pdf"

# The outcome of reading one document in a fresh process, as JSON.
ALONE = """
import json, sys
import django
django.setup()
from files.processing.documents import extract_document
from files.processing.errors import ProcessingError
from files.services.processing import processing_limits
try:
    result = extract_document(sys.argv[1], "application/pdf", processing_limits())
    print(json.dumps({"metadata": result.metadata}))
except ProcessingError as exc:
    print(json.dumps({"code": exc.code, "message": exc.message}))
"""


def _outcome(path: Path) -> dict:
    try:
        return {"metadata": extract_document(path, "application/pdf", processing_limits()).metadata}
    except ProcessingError as exc:
        return {"code": exc.code, "message": exc.message}


def _outcome_alone(path: Path) -> dict:
    """What a worker that has read nothing before makes of the file."""
    result = subprocess.run(
        [sys.executable, "-c", ALONE, str(path)],
        cwd=django_settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "mediaportal.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "build", [hostile.pdf_without_pages, hostile.pdf_with_looping_page_tree], ids=["no pages", "looping tree"]
)
def test_a_broken_pdf_gets_the_same_outcome_after_an_encrypted_one(tmp_path, build):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(build())
    alone = _outcome_alone(broken)
    # PDFium's error code is per process: this one is left at "password" ...
    assert _outcome(ENCRYPTED)["metadata"]["password_required"] is True
    # ... which the broken file must not pick up.
    assert _outcome(broken) == alone
    assert alone["code"] == "corrupt_document" and alone["message"].startswith("The PDF could not be parsed")


@pytest.mark.django_db
def test_an_encrypted_then_a_broken_pdf_in_one_worker(editor, tenant):
    encrypted = upload(editor, tenant, "locked.pdf", ENCRYPTED.read_bytes()).json()["id"]
    broken = upload(editor, tenant, "broken.pdf", hostile.pdf_without_pages()).json()["id"]
    assert file_process(file_id=encrypted) == "completed"
    assert File.objects.get(pk=encrypted).metadata["password_required"] is True
    assert file_process(file_id=broken) == "failed"
    file = File.objects.get(pk=broken)
    assert file.error_code == "corrupt_document" and "encrypted" not in file.metadata
    assert file.error == "The PDF could not be parsed: it has no readable page."


@contextmanager
def soft_time_limit(seconds: float) -> Iterator[None]:
    """What a Celery prefork worker does at a task's soft time limit: SoftTimeLimitExceeded,
    raised from a signal handler wherever the task's Python code is."""

    def stop(signum, frame):
        raise SoftTimeLimitExceeded()

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.django_db
def test_a_pdf_that_never_ends_fails_at_the_soft_time_limit(editor, tenant):
    # A million pages in 1.7 KiB, each drawing 20,000 lines: reading them takes about nine hours.
    response = upload(editor, tenant, "endless.pdf", hostile.pdf_with_endless_pages())
    assert response.status_code == 201
    started = time.monotonic()
    with soft_time_limit(1.5):
        assert file_process(file_id=response.json()["id"]) == "failed"
    assert time.monotonic() - started < 30
    file = File.objects.get(pk=response.json()["id"])
    assert file.status == "failed" and file.error_code == "processing_timed_out"
    assert file.error.startswith("Processing took longer than") and file.error.endswith("Reprocess to try again.")
    # The worker goes on: PDFium is free again for the next file.
    good = upload(editor, tenant, "good.pdf", (CORPUS / "document_pdf" / "metadata.pdf").read_bytes()).json()
    assert file_process(file_id=good["id"]) == "completed"
