"""A known set of uploads, duplicates, versions, trash, downloads, shares, views, an archive
move and renditions, made through the real API, with every figure the analytics endpoints
must show for it worked out here independently."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

import analytics.tasks  # noqa: F401 - registers the tasks
from accounts.models import Role
from files.models import Blob, File, FileVersion, Rendition
from files.services.lifecycle import archive_sweep
from files.services.processing_run import file_process
from mediaportal.celery import app
from tests.factories import MembershipFactory
from tests.files.conftest import upload
from tests.helpers import CORPUS, client_for

PHOTO = (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()
NOTES = b"alpha " * 100  # 600 B, uploaded twice (the second a duplicate)
REPORT_V1 = b"b" * 300
REPORT_V2 = b"c" * 400
OLD = b"d" * 200  # trashed


def api(tenant, suffix: str) -> str:
    return f"/api/v1/tenants/{tenant.slug}/{suffix}"


def roll_up() -> dict:
    return app.tasks["analytics.roll_up_usage"].apply().get()


def snapshot() -> dict:
    return app.tasks["analytics.snapshot_storage"].apply().get()


@dataclass
class Known:
    tenant: object
    owner: object
    editor: object
    viewer: object
    files: dict = field(default_factory=dict)
    folders: dict = field(default_factory=dict)


def _made(response) -> dict:
    assert response.status_code == 201, response.content
    return response.json()


def _folders(known: Known) -> None:
    docs = _made(known.owner.post(api(known.tenant, "folders/"), {"name": "Docs"}, format="json"))
    year = _made(known.owner.post(api(known.tenant, "folders/"), {"name": "2024", "parent": docs["id"]}, format="json"))
    known.folders = {"docs": docs, "year": year}


def _uploads(known: Known, after_commit) -> None:
    owner, editor, tenant = known.owner, known.editor, known.tenant
    with after_commit():
        known.files["notes"] = _made(upload(owner, tenant, "notes.txt", NOTES, tags="holiday"))
        known.files["copy"] = _made(upload(editor, tenant, "copy.txt", NOTES, folder=known.folders["year"]["id"]))
        known.files["photo"] = _made(
            upload(owner, tenant, "photo.jpg", PHOTO, folder=known.folders["docs"]["id"], tags="holiday,beach")
        )
        known.files["report"] = _made(upload(editor, tenant, "report.txt", REPORT_V1))
        _made(
            editor.post(
                api(tenant, f"files/{known.files['report']['id']}/versions/"),
                {"file": SimpleUploadedFile("report.txt", REPORT_V2)},
                format="multipart",
            )
        )
        known.files["old"] = _made(upload(owner, tenant, "old.txt", OLD, tags="holiday"))
    assert owner.delete(api(tenant, f"files/{known.files['old']['id']}/")).status_code in (200, 204)
    assert file_process(file_id=known.files["photo"]["id"]) == "completed"
    File.objects.filter(pk=known.files["photo"]["id"]).update(labels=[{"name": "lizard", "score": 0.9}])
    File.objects.filter(pk=known.files["notes"]["id"]).update(labels=[{"name": "text", "score": 0.5}])


def _traffic(known: Known) -> None:
    """5 downloads, 3 share hits and 2 views (one each by the owner and the editor)."""
    owner, editor, tenant, files = known.owner, known.editor, known.tenant, known.files
    for client, name in ((owner, "notes"), (owner, "notes"), (editor, "report")):
        assert client.get(api(tenant, f"files/{files[name]['id']}/download/")).status_code == 302
    file_link = _made(owner.post(api(tenant, "shares/"), {"file": files["notes"]["id"]}, format="json"))["token"]
    folder_link = _made(owner.post(api(tenant, "shares/"), {"folder": known.folders["year"]["id"]}, format="json"))
    visitor = Client()
    assert visitor.get(f"/s/{file_link}").status_code == 200  # share.viewed
    assert visitor.get(f"/s/{file_link}/download").status_code == 302  # share.downloaded + file.downloaded
    zipped = visitor.get(f"/s/{folder_link['token']}/zip")  # share.zip_downloaded
    assert zipped.status_code == 200
    b"".join(zipped.streaming_content)
    for client in (owner, editor):
        assert client.get(api(tenant, f"files/{files['photo']['id']}/renditions/thumbnail/")).status_code == 302


def _archive_and_replicas(known: Known, after_commit) -> None:
    photo = known.files["photo"]["id"]
    then = timezone.now() - timedelta(days=200)
    File.objects.filter(pk=photo).update(created_at=then, last_accessed_at=then)
    FileVersion.objects.filter(file_id=photo).update(created_at=then)
    with after_commit():
        summary = archive_sweep(tenant=known.tenant)
    assert (summary.archived, summary.bytes) == (1, len(PHOTO))
    Blob.objects.filter(tenant=known.tenant, size=len(NOTES)).update(replicated_at=timezone.now())
    first = Rendition.objects.filter(tenant=known.tenant).order_by("pk").first()
    Rendition.objects.filter(pk=first.pk).update(replicated_at=timezone.now())


@pytest.fixture
def known(db, tenant, after_commit, queued) -> Known:
    owner = MembershipFactory(tenant=tenant, role=Role.OWNER)
    editor = MembershipFactory(tenant=tenant, role=Role.EDITOR)
    viewer = MembershipFactory(tenant=tenant, role=Role.VIEWER)
    made = Known(tenant, client_for(owner.user), client_for(editor.user), client_for(viewer.user))
    _folders(made)
    _uploads(made, after_commit)
    _traffic(made)
    _archive_and_replicas(made, after_commit)
    return made


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    def run():
        return django_capture_on_commit_callbacks(execute=True)

    return run
