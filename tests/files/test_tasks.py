from __future__ import annotations

import base64
import io
import json
import logging
import os
import socket
import tempfile
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.utils import timezone

from files import storage
from files.models import File, FileVersion, Rendition
from files.processing import images
from files.services.processing import file_failed
from files.services.processing_run import file_process
from files.tasks import process_file, requeue_stale_processing
from mediaportal.celery import app
from tests.files.conftest import upload
from tests.helpers import CORPUS


def test_tasks_are_routed_to_their_queues():
    def queue_of(name: str) -> str:
        return app.amqp.router.route({}, name)["queue"].name

    assert queue_of("files.process_file") == "processing"
    for sweep in (
        "files.trash_purge_expired",
        "files.upload_sessions_expire",
        "files.upload_keys_expire",
        "files.orphan_sweep",
        "files.reindex_tenant",
        "files.requeue_stale_processing",
    ):
        assert queue_of(sweep) == "maintenance"


# --- process_file as a worker runs it ------------------------------------------------------

PHOTO = CORPUS / "photo_exif" / "Canon_40D.jpg"


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The temporary directory for this test alone, so the files counted there are its own."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def retries_logged(records) -> list[logging.LogRecord]:
    return [record for record in records if record.name == "files.tasks" and hasattr(record, "countdown")]


@pytest.mark.django_db
def test_a_transient_failure_leaves_no_temporary_file(editor, tenant, disposable_s3, temp_dir):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    disposable_s3.stop_s3()

    # The last delivery a task gets: no retry left, so the file ends failed.
    result = process_file.apply(args=(file_id,), retries=process_file.max_retries)

    assert result.failed()
    file = File.objects.get(pk=file_id)
    assert (file.status, file.error_code) == ("failed", "storage_unavailable")
    assert list(temp_dir.glob("mp-proc-*")) == []


@pytest.mark.django_db
def test_transient_storage_errors_retry_with_backoff_then_fail(editor, tenant, disposable_s3, caplog):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    disposable_s3.stop_s3()
    first = process_file.max_retries - 2

    with caplog.at_level(logging.INFO, logger="files.tasks"):
        result = process_file.apply(args=(file_id,), retries=first)

    # Eager runs skip the countdown but log it: exponential (2^(n+1) s) with under a second of jitter.
    retried = retries_logged(caplog.records)
    assert [record.attempt for record in retried] == [first + 1, first + 2]
    for record in retried:
        assert 2**record.attempt <= record.countdown < 2**record.attempt + 1
    assert result.failed()
    body = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()
    assert body["status"] == "failed" and "Storage stayed unavailable" in body["error"]
    assert File.objects.get(pk=file_id).error_code == "storage_unavailable"


@pytest.mark.django_db
def test_runs_that_come_back_with_a_transient_error_are_not_counted_as_attempts(
    editor, tenant, disposable_s3, settings
):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    disposable_s3.stop_s3()
    first = process_file.max_retries - settings.PROCESSING_MAX_ATTEMPTS - 1  # one run more than attempts allowed

    result = process_file.apply(args=(file_id,), retries=first)

    # Each run failed to reach storage and said so: the retries ran out, not the attempts.
    assert result.failed()
    file = File.objects.select_related("current_version").get(pk=file_id)
    assert (file.status, file.error_code) == ("failed", "storage_unavailable")
    assert file.current_version.processing_attempts == 0


def test_a_worker_starting_removes_the_downloads_nobody_holds_and_keeps_those_in_use(temp_dir, monkeypatch):
    import fcntl
    import time

    from files.models import Blob
    from files.services import processing_run

    killed = temp_dir / "mp-proc-k1ll3d"  # its process is gone, and so is its lock
    held = temp_dir / "mp-proc-h3ld"  # another process (here: an open file of ours) holds it
    renaming = temp_dir / "mp-dl-r3nam1ng"  # just made, about to be locked and renamed
    long_new = temp_dir / "mp-dl-f0rg0tt3n"  # killed between making and renaming
    for path in (killed, held, renaming, long_new):
        path.write_bytes(b"partial download")
    an_hour_ago = time.time() - 3600
    for path in (killed, long_new):
        os.utime(path, (an_hour_ago, an_hour_ago))
    with open(held, "rb") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert processing_run.remove_stale_downloads() == 2
    assert sorted(temp_dir.iterdir()) == sorted([held, renaming])
    renaming.unlink()

    # A real download in progress is never taken for a stale one; the released one now is.
    monkeypatch.setattr(processing_run.storage, "object_chunks", lambda key: iter([b"the blob's bytes"]))
    with processing_run.downloaded(Blob(storage_key="k")) as path:
        assert Path(path).name.startswith("mp-proc-") and processing_run.remove_stale_downloads() == 1
        assert list(temp_dir.iterdir()) == [Path(path)] and Path(path).read_bytes() == b"the blob's bytes"
    assert list(temp_dir.iterdir()) == []


@pytest.mark.django_db
def test_a_broken_file_fails_once_without_retries(editor, tenant, caplog):
    data = (CORPUS / "broken_or_malicious" / "truncated_jpeg.jpg").read_bytes()
    file_id = upload(editor, tenant, "truncated.jpg", data).json()["id"]

    with caplog.at_level(logging.INFO, logger="files.tasks"):
        result = process_file.apply(args=(file_id,))

    assert result.successful() and result.result == "failed"
    assert retries_logged(caplog.records) == []
    file = File.objects.get(pk=file_id)
    assert file.status == "failed" and file.error and file.error_code not in ("", "storage_unavailable")


def rendition_state(tenant) -> tuple[list, set]:
    rows = list(Rendition.objects.filter(tenant=tenant).order_by("id").values_list("id", "storage_key", "size"))
    objects = {
        (obj["Key"], obj["ETag"], obj["LastModified"])
        for obj in storage.object_keys(f"tenants/{tenant.id}/renditions/")
    }
    return rows, objects


@pytest.mark.django_db
def test_a_task_delivered_again_after_completion_changes_nothing(editor, tenant, django_capture_on_commit_callbacks):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    url = f"/api/v1/tenants/{tenant.slug}/files/{file_id}/"
    assert process_file.apply(args=(file_id,)).result == "completed"
    before, renditions = editor.get(url).json(), rendition_state(tenant)
    # Six rows; the 100 px photo's three sizes are one picture, one object per format.
    assert (len(renditions[0]), len(renditions[1])) == (6, 2)

    # acks_late: a worker that dies after finishing but before acknowledging gets the task again.
    redelivered = process_file.apply(args=(file_id,))

    after = editor.get(url).json()
    assert (after["status"], after["updated_at"], after["metadata"]) == (
        before["status"],
        before["updated_at"],
        before["metadata"],
    )
    assert rendition_state(tenant) == renditions
    assert redelivered.result == "skipped"

    # An explicit reprocess is not a redelivery: it runs again.
    with django_capture_on_commit_callbacks():
        assert editor.post(url + "reprocess/").status_code == 202
    assert process_file.apply(args=(file_id,)).result == "completed"
    again = editor.get(url).json()
    assert again["status"] == "completed" and again["updated_at"] > before["updated_at"]
    assert len(rendition_state(tenant)[0]) == 6


def current_version_id(file_id) -> int:
    return File.objects.values_list("current_version_id", flat=True).get(pk=file_id)


@pytest.mark.django_db
def test_an_older_versions_task_giving_up_does_not_fail_the_newer_version(editor, tenant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    first = current_version_id(file_id)
    File.objects.filter(pk=file_id).update(status="processing")  # version 1's task is retrying
    response = editor.post(
        f"/api/v1/tenants/{tenant.slug}/files/{file_id}/versions/",
        {"file": SimpleUploadedFile("a.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes())},
        format="multipart",
    )
    assert response.status_code == 201
    second = current_version_id(file_id)

    def give_up_on_version_1() -> None:
        file_failed(
            file_id=file_id,
            version_id=first,
            code="storage_unavailable",
            message="Storage stayed unavailable; reprocess later.",
        )

    # ... and gives up after its last retry, once version 2 is pending with a task of its own,
    give_up_on_version_1()
    assert File.objects.get(pk=file_id).status == "pending"

    # ... or once that task is at work on version 2.
    File.objects.filter(pk=file_id).update(status="processing")
    give_up_on_version_1()
    file = File.objects.get(pk=file_id)
    assert (file.status, file.error_code, file.error) == ("processing", "", "")

    # A retry of version 1's task delivered now leaves version 2's state alone too.
    assert process_file.apply(args=(file_id, first)).result == "skipped"
    assert File.objects.get(pk=file_id).status == "processing"
    assert FileVersion.objects.get(pk=first).processing_attempts == 0

    assert process_file.apply(args=(file_id, second)).result == "completed"
    file = File.objects.get(pk=file_id)
    assert (file.status, file.error_code, file.metadata["height"]) == ("completed", "", 78)  # version 2's


# --- Runs that never come back (the hard time limit, a worker killed or lost) ---------------


class WorkerKilled(BaseException):
    """What a run sees of its worker being killed at the hard time limit: nothing after it runs."""


def never_returns(*args, **kwargs):
    raise WorkerKilled


@pytest.fixture
def decoder_never_returns(monkeypatch):
    """Image decoding that never comes back, as on a picture whose filtering outlasts the hard
    time limit: the worker process is killed there, and none of the run's handlers runs."""
    monkeypatch.setattr(images, "process_image", never_returns)


def killed_runs(file_id, version_id, times: int) -> None:
    for _ in range(times):
        with pytest.raises(WorkerKilled):
            file_process(file_id=file_id, version_id=version_id)


@pytest.mark.django_db
def test_a_task_delivered_again_after_its_last_attempt_fails_the_file(editor, tenant, settings, decoder_never_returns):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    version_id = current_version_id(file_id)

    killed_runs(file_id, version_id, settings.PROCESSING_MAX_ATTEMPTS)
    assert FileVersion.objects.get(pk=version_id).processing_attempts == settings.PROCESSING_MAX_ATTEMPTS
    assert File.objects.get(pk=file_id).status == "processing"

    # reject_on_worker_lost puts the task straight back: this delivery gives up, and is acknowledged.
    assert process_file.apply(args=(file_id, version_id)).result == "failed"

    body = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()
    assert (body["status"], body["error_code"]) == ("failed", "processing_timed_out")
    assert f"did not finish in {settings.PROCESSING_MAX_ATTEMPTS} attempts" in body["error"]
    assert File.objects.get(pk=file_id).labels == []


@pytest.mark.django_db
def test_a_file_processed_after_runs_that_never_came_back_counts_afresh(editor, tenant, settings, monkeypatch):
    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    version_id = current_version_id(file_id)
    with monkeypatch.context() as patched:
        patched.setattr(images, "process_image", never_returns)
        killed_runs(file_id, version_id, settings.PROCESSING_MAX_ATTEMPTS - 1)

    assert process_file.apply(args=(file_id, version_id)).result == "completed"

    # An outcome starts the count again: a reprocess gets all its attempts.
    assert FileVersion.objects.get(pk=version_id).processing_attempts == 0


# --- A broker that is down when an upload commits ------------------------------------------


def _use_broker(url: str) -> None:
    app.conf.broker_url = url
    # Connections are pooled per app: drop the pools so the next send connects to `url`.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker():
    """Switches the Celery broker off (a port nothing listens on) and on again; reads and empties
    the real `processing` queue."""

    class Broker:
        url = app.conf.broker_url

        def stop(self) -> None:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            _use_broker(f"redis://127.0.0.1:{port}/0")

        def start(self) -> None:
            _use_broker(self.url)

        def queued(self) -> list[tuple[str, list]]:
            """(task name, args) of each message waiting in the processing queue."""
            with app.connection_for_read() as connection:
                raw = connection.default_channel.client.lrange("processing", 0, -1)
            messages = [json.loads(item) for item in raw]
            return [(m["headers"]["task"], json.loads(base64.b64decode(m["body"]))[0]) for m in messages]

        def purge(self) -> None:
            with app.connection_for_read() as connection:
                connection.default_channel.client.delete("processing")

    broker = Broker()
    broker.purge()
    yield broker
    broker.start()
    broker.purge()


@pytest.mark.django_db(transaction=True)
def test_an_upload_while_the_broker_is_down_is_stored_and_queued_by_the_sweep(editor, tenant, broker, settings, caplog):
    broker.stop()
    with caplog.at_level(logging.WARNING):
        response = upload(editor, tenant, "a.jpg", PHOTO.read_bytes())
    assert response.status_code == 201, response.content
    file_id = response.json()["id"]
    assert File.objects.get(pk=file_id).status == "pending"
    assert any(file_id in record.getMessage() for record in caplog.records if record.levelno == logging.WARNING)

    broker.start()
    out = io.StringIO()
    call_command("requeue_stale", stdout=out)  # too young to be called stuck: a worker may be on it
    assert "Queued 0 files" in out.getvalue() and broker.queued() == []

    stuck = timezone.now() - timedelta(minutes=settings.PROCESSING_STALE_MINUTES + 1)
    File.objects.filter(pk=file_id).update(updated_at=stuck)
    call_command("requeue_stale", stdout=out)
    assert "Queued 1 file" in out.getvalue()
    assert broker.queued() == [("files.process_file", [file_id, current_version_id(file_id)])]
    call_command("requeue_stale", stdout=out)  # queued once per stale period, not once per sweep
    assert len(broker.queued()) == 1

    assert process_file.apply(args=broker.queued()[0][1]).result == "completed"
    assert editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()["status"] == "completed"


@pytest.mark.django_db
def test_the_sweep_requeues_files_stuck_processing_and_leaves_the_rest(editor, tenant, broker, settings):
    ids = {n: upload(editor, tenant, f"{n}.txt", f"file {n}".encode()).json()["id"] for n in range(4)}
    stuck = timezone.now() - timedelta(minutes=settings.PROCESSING_STALE_MINUTES + 1)
    File.objects.filter(pk=ids[0]).update(status="processing", updated_at=stuck)  # its worker vanished
    File.objects.filter(pk=ids[1]).update(status="processing")  # being processed right now
    File.objects.filter(pk=ids[2]).update(status="completed", updated_at=stuck)
    File.objects.filter(pk=ids[3]).update(status="failed", updated_at=stuck)

    assert requeue_stale_processing.apply().result == 1

    assert broker.queued() == [("files.process_file", [ids[0], current_version_id(ids[0])])]
    statuses = dict(File.objects.filter(tenant=tenant).values_list("id", "status"))
    assert [statuses[UUID(ids[n])] for n in range(4)] == ["pending", "processing", "completed", "failed"]


@pytest.mark.django_db
def test_the_sweep_fails_a_version_whose_attempts_never_came_back(
    editor, tenant, broker, settings, decoder_never_returns
):
    ids = [upload(editor, tenant, f"{n}.jpg", PHOTO.read_bytes() + bytes([n])).json()["id"] for n in range(2)]
    versions = [current_version_id(file_id) for file_id in ids]
    killed_runs(ids[0], versions[0], settings.PROCESSING_MAX_ATTEMPTS)
    killed_runs(ids[1], versions[1], settings.PROCESSING_MAX_ATTEMPTS - 1)  # one attempt left
    stuck = timezone.now() - timedelta(minutes=settings.PROCESSING_STALE_MINUTES + 1)
    File.objects.filter(pk__in=ids).update(updated_at=stuck)

    assert requeue_stale_processing.apply().result == 1

    assert broker.queued() == [("files.process_file", [ids[1], versions[1]])]
    given_up, requeued = (File.objects.get(pk=file_id) for file_id in ids)
    assert (given_up.status, given_up.error_code) == ("failed", "processing_timed_out")
    assert "Reprocess to try again" in given_up.error
    assert (requeued.status, requeued.error_code) == ("pending", "")
    # A reprocess of the failed file gets all its attempts again.
    assert FileVersion.objects.get(pk=versions[0]).processing_attempts == 0


def test_a_running_task_is_never_taken_for_stuck(settings):
    # The sweep may only find a file stuck once no task can still be at work on it.
    assert process_file.time_limit < settings.PROCESSING_STALE_MINUTES * 60
    settings.PROCESSING_STALE_MINUTES = process_file.time_limit // 60
    with pytest.raises(SystemCheckError, match="PROCESSING_STALE_MINUTES"):
        call_command("check")
