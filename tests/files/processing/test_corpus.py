"""Every file of the shared corpus through upload and processing, checked against MANIFEST.json."""

from __future__ import annotations

import json
import logging
from io import BytesIO

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from onnx import TensorProto, helper
from PIL import Image

from files.models import File, Rendition
from files.processing.labels import builder
from files.services.processing_run import file_process
from tests.files.conftest import upload
from tests.helpers import CORPUS

pytestmark = pytest.mark.django_db

MANIFEST = json.loads((CORPUS / "MANIFEST.json").read_text())


def _id(entry: dict) -> str:
    return entry["file"]


def _run(editor, tenant, entry: dict):
    path = CORPUS / entry["file"]
    response = upload(editor, tenant, path.name, path.read_bytes())
    return response


@pytest.mark.parametrize("entry", MANIFEST, ids=_id)
def test_corpus_file(editor, tenant, entry):
    expected = entry["expected"]
    response = _run(editor, tenant, entry)
    if expected.get("should_reject"):
        if response.status_code == 201:
            status = file_process(file_id=response.json()["id"])
            file = File.objects.get(pk=response.json()["id"])
            assert status == "failed" and file.status == "failed", entry["file"]
            assert file.error and file.error_code, "a failed file says why"
        else:
            assert response.status_code in (400, 415), (entry["file"], response.status_code, response.content)
            assert response.json()["code"] in ("unsupported_media_type", "empty_file")
            assert not File.objects.filter(tenant=tenant).exists()
        return

    assert response.status_code == 201, (entry["file"], response.content)
    file_id = response.json()["id"]
    assert file_process(file_id=file_id) == "completed", File.objects.get(pk=file_id).error
    body = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()
    assert body["status"] == "completed" and body["error"] == ""
    metadata = body["metadata"]
    assert metadata["extension_mismatch"] is (not expected.get("extension_matches_content", True))

    image = expected.get("image")
    if image and image.get("display_width"):
        assert (metadata["width"], metadata["height"]) == (image["display_width"], image["display_height"])
        assert metadata["animated"] is image["animated"]
        assert body["renditions"].keys() >= {"thumbnail", "medium", "large"}
        thumb = Image.open(BytesIO(requests.get(body["renditions"]["thumbnail"], timeout=10).content))
        assert max(thumb.size) == min(200, max(image["display_width"], image["display_height"]))
        # Landscape stays landscape after orientation.
        assert (thumb.width >= thumb.height) == (image["display_width"] >= image["display_height"])
    exif = expected.get("exif") or {}
    if exif.get("DateTimeOriginal"):
        assert metadata["taken_at"].startswith(exif["DateTimeOriginal"].replace(":", "-", 2).replace(" ", "T"))
    if exif.get("Model"):
        assert metadata["camera_model"] == exif["Model"].strip()
    if exif.get("gps"):
        assert metadata["gps"]["lat"] == pytest.approx(exif["gps"]["lat"], abs=1e-4)
        assert metadata["gps"]["lon"] == pytest.approx(exif["gps"]["lon"], abs=1e-4)
    pdf = expected.get("pdf")
    if pdf and pdf.get("pages") and not pdf.get("encrypted") or (pdf and pdf.get("opens_without_password")):
        assert metadata["page_count"] == pdf["pages"]
        if pdf.get("title"):
            assert metadata["title"] == pdf["title"]
        if pdf.get("author"):
            assert metadata["author"] == pdf["author"]
    phrase = expected.get("search_phrase")
    if phrase and not (pdf and pdf.get("encrypted") and not pdf.get("opens_without_password")):
        text = File.objects.get(pk=file_id).content_text
        assert phrase.lower() in " ".join(text.split()).lower(), entry["file"]


def test_renditions_have_no_gps_and_optimized_is_smaller(editor, tenant):
    photo = CORPUS / "large_dimension" / "jolla.jpg"
    file_id = upload(editor, tenant, "jolla.jpg", photo.read_bytes()).json()["id"]
    assert file_process(file_id=file_id) == "completed"
    file = File.objects.get(pk=file_id)
    renditions = Rendition.objects.filter(blob__sha256=file.sha256)
    assert {(r.kind, r.format) for r in renditions} >= {
        (k, f) for k in ("thumbnail", "medium", "large") for f in ("webp", "jpeg")
    }
    optimized = renditions.get(kind="optimized")
    assert optimized.size < photo.stat().st_size and max(optimized.width, optimized.height) <= 2560
    assert file.metadata["optimized_saving_bytes"] == photo.stat().st_size - optimized.size

    gps_photo = CORPUS / "photo_exif" / "court-exif.jpg"
    gps_id = upload(editor, tenant, "court.jpg", gps_photo.read_bytes()).json()["id"]
    file_process(file_id=gps_id)
    body = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{gps_id}/").json()
    assert body["metadata"]["gps"] is not None  # the original has GPS ...
    for kind in ("thumbnail", "medium", "large"):
        for fmt in ("webp", "jpeg"):
            redirect = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{gps_id}/renditions/{kind}/", {"format": fmt})
            assert redirect.status_code == 302
            picture = Image.open(BytesIO(requests.get(redirect["Location"], timeout=10).content))
            exif = picture.getexif()
            assert not exif.get_ifd(0x8825), (kind, fmt)  # ... the renditions have none


def test_an_optimized_copy_equal_to_the_large_webp_is_stored_once(editor, tenant, after_commit):
    from tests.files.conftest import tenant_objects

    # The 8 MP photo decodes reduced to below the optimized size: its optimized copy is the
    # large WebP, the same picture, so one object serves both kinds.
    photo = CORPUS / "large_dimension" / "jolla.jpg"
    file_id = upload(editor, tenant, "jolla.jpg", photo.read_bytes()).json()["id"]
    assert file_process(file_id=file_id) == "completed"
    rows = {(r.kind, r.format): r for r in Rendition.objects.filter(tenant=tenant)}
    assert len(rows) == 7 and rows["optimized", "webp"].storage_key == rows["large", "webp"].storage_key
    assert sorted(tenant_objects(tenant, "renditions")) == sorted({r.storage_key for r in rows.values()})
    assert len(tenant_objects(tenant, "renditions")) == 6

    def served(kind: str) -> bytes:
        redirect = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/renditions/{kind}/")
        assert redirect.status_code == 302
        fetched = requests.get(redirect["Location"], timeout=10)
        assert fetched.status_code == 200
        assert f"jolla ({kind}).webp" in fetched.headers["Content-Disposition"]
        return fetched.content

    assert served("optimized") == served("large") and len(served("optimized")) == rows["optimized", "webp"].size
    with after_commit():
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/?permanent=true").status_code == 204
    assert tenant_objects(tenant, "renditions") == []


def test_duplicates_share_renditions(editor, tenant):
    data = (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()
    first = upload(editor, tenant, "a.jpg", data).json()["id"]
    second = upload(editor, tenant, "b.jpg", data).json()["id"]
    file_process(file_id=first)
    file_process(file_id=second)
    assert Rendition.objects.filter(tenant=tenant).count() == 6


def test_reprocess_endpoint_and_processing_twice_is_harmless(
    editor, tenant, member, django_capture_on_commit_callbacks
):
    from accounts.models import Role

    file_id = upload(editor, tenant, "a.jpg", (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()).json()["id"]
    file_process(file_id=file_id)
    file_process(file_id=file_id)
    assert Rendition.objects.filter(tenant=tenant).count() == 6
    viewer = member(Role.VIEWER)
    assert viewer.post(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/reprocess/").status_code == 403
    with django_capture_on_commit_callbacks() as callbacks:
        response = editor.post(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/reprocess/")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert len(callbacks) == 1  # the task is queued once the transaction commits


def test_labels_are_stored_and_filterable(editor, tenant):
    lizard = upload(editor, tenant, "agama.jpg", (CORPUS / "photo_exif" / "Kodak_CX7530.jpg").read_bytes()).json()["id"]
    pdf = upload(editor, tenant, "poem.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes()).json()["id"]
    file_process(file_id=lizard)
    file_process(file_id=pdf)
    found = {label["name"]: label for label in File.objects.get(pk=lizard).labels}
    assert found["animal"]["score"] > 0.5 and found["animal"]["source"] == "category"
    url = f"/api/v1/tenants/{tenant.slug}/files/"
    assert [f["id"] for f in editor.get(url, {"label": "animal"}).json()["results"]] == [lizard]
    assert [f["id"] for f in editor.get(url, {"label": "document"}).json()["results"]] == [pdf]
    assert editor.get(url, {"label": ["animal", "document"]}).json()["results"] == []


def test_processing_completes_when_the_label_model_cannot_be_cached(
    editor, tenant, settings, unwritable_model_cache, caplog
):
    photos = [CORPUS / "photo_exif" / "Canon_40D.jpg", CORPUS / "photo_exif" / "Kodak_CX7530.jpg"]
    ids = [upload(editor, tenant, path.name, path.read_bytes()).json()["id"] for path in photos]
    with caplog.at_level(logging.WARNING, logger="files.processing.labels.runtime"):
        assert [file_process(file_id=file_id) for file_id in ids] == ["completed", "completed"]
    for file_id in ids:
        body = editor.get(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/").json()
        assert body["labels"] == [] and "cannot write the classifier" in body["metadata"]["labels_unavailable"]
        assert body["renditions"].keys() >= {"thumbnail", "medium", "large"}
    # The model was built (160–260 ms) and found unwritable once for the process, not once per image.
    assert len([r for r in caplog.records if r.name == "files.processing.labels.runtime"]) == 1

    # Once the cache is fixed, labels come back without a restart: after LABELS_RETRY_MINUTES.
    unwritable_model_cache.unlink()
    assert file_process(file_id=ids[0], force=True) == "completed"
    assert File.objects.get(pk=ids[0]).labels == []
    settings.LABELS_RETRY_MINUTES = 0
    assert file_process(file_id=ids[0], force=True) == "completed"
    assert "animal" in {label["name"] for label in File.objects.get(pk=ids[0]).labels}


def test_a_model_failing_at_run_time_leaves_the_file_completed_without_labels(
    editor, tenant, settings, tmp_path, no_label_model, caplog
):
    # A cached model onnxruntime loads but cannot run on our input (it wants doubles).
    settings.MODEL_CACHE_DIR = tmp_path / "models"
    cached = builder.model_path(settings.MODEL_CACHE_DIR)
    image = [1, 3, builder.INPUT_SIDE, builder.INPUT_SIDE]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])],
        "wrong",
        [helper.make_tensor_value_info("image", TensorProto.DOUBLE, image)],
        [helper.make_tensor_value_info("out", TensorProto.DOUBLE, image)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    cached.write_bytes(model.SerializeToString())

    file_id = upload(editor, tenant, "a.jpg", (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()).json()["id"]
    with caplog.at_level(logging.WARNING, logger="files.services.processing_run"):
        assert file_process(file_id=file_id) == "completed"
    file = File.objects.get(pk=file_id)
    assert file.labels == [] and "INVALID_ARGUMENT" in file.metadata["labels_unavailable"]
    assert Rendition.objects.filter(blob__sha256=file.sha256).count() == 6
    assert any("labelling" in record.getMessage() for record in caplog.records)


def test_each_version_gets_only_its_own_metadata_labels_and_text(editor, tenant):
    url = f"/api/v1/tenants/{tenant.slug}/files/"
    photo = (CORPUS / "photo_exif" / "court-exif.jpg").read_bytes()
    file_id = upload(editor, tenant, "plan.jpg", photo).json()["id"]
    file_process(file_id=file_id)
    first = editor.get(f"{url}{file_id}/").json()
    assert first["metadata"]["gps"] and first["metadata"]["camera_model"] == "NIKON D2H"

    def new_version(name: str, data: bytes) -> dict:
        response = editor.post(
            f"{url}{file_id}/versions/", {"file": SimpleUploadedFile(name, data)}, format="multipart"
        )
        assert response.status_code == 201, response.content
        file_process(file_id=file_id)
        return editor.get(f"{url}{file_id}/").json()

    # A PDF replaces the photo: nothing of the photo stays, and the name no longer fits the content.
    second = new_version("plan.pdf", (CORPUS / "document_pdf" / "crazyones.pdf").read_bytes())
    assert second["status"] == "completed" and second["metadata"]["page_count"] == 1
    assert not {"gps", "camera_make", "camera_model", "taken_at", "width"} & second["metadata"].keys()
    assert second["metadata"]["extension_mismatch"] is True
    assert [label["name"] for label in second["labels"]] == ["document"]
    assert "crazy ones" in File.objects.get(pk=file_id).content_text.lower()

    # A broken version: failed, showing nothing of the PDF either (not its text in search).
    third = new_version("plan.jpg", (CORPUS / "broken_or_malicious" / "truncated_jpeg.jpg").read_bytes())
    assert third["status"] == "failed"
    assert third["metadata"] == {"extension_mismatch": False} and third["labels"] == []
    assert File.objects.get(pk=file_id).content_text == ""


def test_a_successful_reprocess_clears_labels_unavailable(editor, tenant, settings, unwritable_model_cache):
    settings.LABELS_RETRY_MINUTES = 0
    file_id = upload(editor, tenant, "a.jpg", (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()).json()["id"]
    file_process(file_id=file_id)
    assert "labels_unavailable" in File.objects.get(pk=file_id).metadata

    unwritable_model_cache.unlink()
    file_process(file_id=file_id, force=True)
    file = File.objects.get(pk=file_id)
    assert file.labels and "labels_unavailable" not in file.metadata


def test_purging_the_last_file_removes_its_renditions_from_storage(editor, tenant, after_commit):
    from tests.files.conftest import tenant_objects

    file_id = upload(editor, tenant, "a.jpg", (CORPUS / "photo_exif" / "Canon_40D.jpg").read_bytes()).json()["id"]
    file_process(file_id=file_id)
    # 100 × 68 px, never upscaled: its three sizes are one picture, one object per format.
    assert len(tenant_objects(tenant, "renditions")) == 2
    with after_commit():  # purged objects are deleted once the purge has committed
        assert editor.delete(f"/api/v1/tenants/{tenant.slug}/files/{file_id}/?permanent=true").status_code == 204
    assert tenant_objects(tenant, "renditions") == [] and tenant_objects(tenant) == []
    assert not Rendition.objects.filter(tenant=tenant).exists()
