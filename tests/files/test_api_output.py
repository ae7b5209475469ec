"""A file's JSON is built by hand in `FileOutput.to_representation` (lists answer 50 at a time):
it must stay what DRF's field-by-field walk over the declared fields gives, for files in every
state a user can meet."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from accounts.models import Role
from files import selectors
from files.api.serializers import FileOutput, _datetime
from files.models import Blob, File, FileStatus
from files.services.processing_run import file_process
from tests.files.conftest import CORPUS, upload

pytestmark = pytest.mark.django_db


def as_json(data) -> dict:
    return json.loads(JSONRenderer().render(data))


def drf_walk(file: File) -> dict:
    """What DRF's generic walk over FileOutput's fields gives."""
    return serializers.ModelSerializer.to_representation(FileOutput(), file)


@pytest.fixture
def files(tenant, member):
    client = member(Role.OWNER)
    made = [
        upload(client, tenant, "court.jpg", (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes(), tags=["sport"]),
        upload(client, tenant, "crazyones.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()),
        upload(client, tenant, "notes.txt", b"plain words", description="<b>kept</b> as typed"),
        upload(client, tenant, "draft.txt", b"a draft", tags=[]),
    ]
    ids = [response.json()["id"] for response in made]
    assert [file_process(file_id=file_id) for file_id in ids] == ["completed"] * 4
    photo, pdf, notes, draft = ids
    # Every branch of the fields that read the version's bytes: archived and replicated, lost,
    # still pending, failed, and a file whose uploader's account is gone.
    blob = Blob.objects.get(versions__file_id=pdf)
    Blob.objects.filter(pk=blob.pk).update(archived_at=timezone.now(), tier="archive", replicated_at=timezone.now())
    Blob.objects.filter(versions__file_id=notes).update(integrity_lost_at=timezone.now())
    File.objects.filter(pk=draft).update(status=FileStatus.PENDING, owner=None, labels=[{"name": "draft"}])
    return {"client": client, "ids": ids, "photo": photo}


def test_file_json_is_what_drfs_walk_gives(tenant, files):
    membership = tenant.memberships.get(role=Role.OWNER)
    listed = list(selectors.file_list(membership=membership, filters={}))
    assert {str(f.id) for f in listed} == set(files["ids"])
    for file in listed:
        assert as_json(FileOutput(file).data) == as_json(drf_walk(file)), file.name
    photo = next(f for f in listed if str(f.id) == files["photo"])
    assert set(FileOutput(photo).data["renditions"]) >= {"thumbnail", "medium", "large"}


def test_file_without_a_version_has_the_same_json(tenant, files):
    file = File.objects.get(pk=files["photo"])
    File.objects.filter(pk=file.pk).update(current_version=None)
    file = File.objects.select_related("owner", "current_version__blob").get(pk=file.pk)
    data = as_json(FileOutput(file).data)
    assert data == as_json(drf_walk(file))
    assert (data["version"], data["storage_tier"], data["renditions"]) == (None, "hot", {})


def test_list_and_search_answer_the_same_json_as_the_file(tenant, files):
    client = files["client"]
    listed = client.get(f"/api/v1/tenants/{tenant.slug}/files/").json()["results"]
    for entry in listed:
        alone = client.get(f"/api/v1/tenants/{tenant.slug}/files/{entry['id']}/").json()
        entry.pop("renditions"), alone.pop("renditions")  # signed at different moments
        assert entry == alone
    notes = next(entry for entry in listed if entry["name"] == "notes.txt")
    assert notes["integrity_lost"] is True and notes["description"] == "<b>kept</b> as typed"
    pdf = next(entry for entry in listed if entry["name"] == "crazyones.pdf")
    assert (pdf["storage_tier"], pdf["replicated"]) == ("archive", True) and pdf["archived_at"].endswith("Z")
    draft = next(entry for entry in listed if entry["name"] == "draft.txt")
    assert (draft["uploaded_by"], draft["status"], draft["labels"]) == (None, "pending", [{"name": "draft"}])


@pytest.mark.parametrize("zone", ["UTC", "Europe/Lisbon", "America/St_Johns"])
@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 29, 0, 30, tzinfo=UTC),  # Lisbon moves its clocks at 01:00 UTC
        datetime(2026, 7, 1, 12, 0, 0, 500, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=ZoneInfo("Asia/Kolkata")),
    ],
)
def test_dates_are_written_as_drf_writes_them(zone, moment):
    with timezone.override(zone):
        assert _datetime(moment) == serializers.DateTimeField().to_representation(moment)
