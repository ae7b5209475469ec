"""Documents built to mislead or exhaust a worker: the same bytes get the same outcome in any
worker, whatever it did before, and no document holds a worker's memory or time unbounded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings as django_settings
from django.core.checks import run_checks

from files.models import File
from files.processing.documents import extract_document
from files.processing.errors import ProcessingError
from files.services.processing import processing_limits
from files.services.processing_run import file_process
from tests.files.conftest import upload
from tests.files.processing import hostile
from tests.files.processing.test_documents import assert_readable
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


def _peak(call: Callable[[], object]) -> tuple[object, int]:
    """What `call` returned or raised, and the most it had allocated at once."""
    tracemalloc.start()
    try:
        outcome = call()
    except ProcessingError as exc:
        outcome = exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return outcome, peak


def test_an_office_part_of_empty_elements_is_read_in_bounded_memory(tmp_path):
    # 300,000 elements outside any paragraph: held, they took 24 MB here (200 MB of them, gigabytes).
    path = hostile.docx_of_elements(tmp_path / "empty.docx", 300_000)
    result, peak = _peak(lambda: extract_document(path, hostile.DOCX, processing_limits()))
    assert result.text == "the end"
    assert peak < 4 * 1024**2, f"{peak:,} bytes"


@pytest.mark.django_db
def test_elements_past_the_limit_fail_the_document_as_too_complex(editor, tenant, tmp_path, settings):
    settings.PROCESSING_MAX_XML_ELEMENTS = 100_000
    data = hostile.docx_of_elements(tmp_path / "many.docx", 150_000).read_bytes()
    file_id = upload(editor, tenant, "many.docx", data).json()["id"]
    assert file_process(file_id=file_id) == "failed"
    file = File.objects.get(pk=file_id)
    assert file.error_code == "document_too_complex"
    assert file.error == "Reading word/document.xml passed the limit of 100,000 XML elements for one document."


def test_a_paragraph_of_a_quarter_million_elements_is_too_complex(tmp_path):
    # A paragraph is kept whole until it is read: its elements are bounded on their own.
    path = hostile.docx_of_elements(tmp_path / "paragraph.docx", 250_000, inside_paragraph=True)
    error, peak = _peak(lambda: extract_document(path, hostile.DOCX, processing_limits()))
    assert isinstance(error, ProcessingError) and error.code == "document_too_complex", error
    assert_readable(error)
    assert peak < 40 * 1024**2, f"{peak:,} bytes"


def test_an_ole_stream_that_loops_is_refused_not_read(tmp_path):
    # 2 KiB on disk; read by following its chain, the stream came to 64 MB.
    path = hostile.ole_with_endless_stream(tmp_path / "endless.doc", 64 * hostile.MB)
    error, peak = _peak(lambda: extract_document(path, "application/msword", processing_limits()))
    assert isinstance(error, ProcessingError) and error.code == "corrupt_document", error
    assert error.message == "The WordDocument stream claims to be larger than the whole file."
    assert peak < 4 * 1024**2, f"{peak:,} bytes"


def test_time_limits_that_cannot_work_are_refused_at_start(settings):
    assert not [message for message in run_checks() if message.id.startswith("files.")]
    settings.PROCESSING_SOFT_TIME_LIMIT = settings.PROCESSING_TIME_LIMIT
    settings.PROCESSING_STALE_MINUTES = 1
    assert sorted(message.id for message in run_checks() if message.id.startswith("files.")) == [
        "files.E001",
        "files.E002",
    ]
