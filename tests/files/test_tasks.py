from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pytest
from django.conf import settings

from files import storage
from files.models import File, Rendition
from files.tasks import process_file
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
        "files.orphan_sweep",
        "files.reindex_tenant",
    ):
        assert queue_of(sweep) == "maintenance"


def test_beat_schedules_every_sweep():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled == {"files.trash_purge_expired", "files.upload_sessions_expire", "files.orphan_sweep"}
    assert set(scheduled) <= set(app.tasks)


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
    assert len(renditions[0]) == len(renditions[1]) == 6

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


@pytest.mark.django_db
def test_an_older_versions_task_giving_up_does_not_fail_the_newer_version(editor, tenant):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from files.processing.pipeline import file_failed

    file_id = upload(editor, tenant, "a.jpg", PHOTO.read_bytes()).json()["id"]
    File.objects.filter(pk=file_id).update(status="processing")  # version 1's task is retrying
    response = editor.post(
        f"/api/v1/tenants/{tenant.slug}/files/{file_id}/versions/",
        {"file": SimpleUploadedFile("a.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes())},
        format="multipart",
    )
    assert response.status_code == 201

    # ... and gives up after its last retry, once version 2 is pending with a task of its own.
    file_failed(file_id=file_id, code="storage_unavailable", message="Storage stayed unavailable; reprocess later.")

    assert File.objects.get(pk=file_id).status == "pending"
    assert process_file.apply(args=(file_id,)).result == "completed"
