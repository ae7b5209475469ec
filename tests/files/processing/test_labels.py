"""Image labels: the checkpoint reader, the ONNX build and cache, and predictions on real photos.

The photo expectations were set by looking at the pictures: a rock agama, a green iguana (a
100-px thumbnail), Grace Hopper's portrait, a throne room and a text page. A network built
wrongly (strides, padding, batch norm, normalisation) does not produce them.
"""

from __future__ import annotations

import os
import pickle
import shutil
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from files.processing import labels
from files.processing.labels import builder, checkpoint, classes, faces, runtime
from files.services.processing import processing_limits
from tests.helpers import CORPUS

SOURCES = {"category", "imagenet", "faces"}


def photo(relative: str, side: int = 800) -> Image.Image:
    """A corpus picture as the pipeline hands it over: oriented, RGB, at most `side` px."""
    with Image.open(CORPUS / relative) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    image.thumbnail((side, side))
    return image


def by_source(found: list[dict], source: str) -> dict[str, float]:
    return {label["name"]: label["score"] for label in found if label["source"] == source}


def assert_well_formed(found: list[dict]) -> None:
    scores = [label["score"] for label in found]
    assert scores == sorted(scores, reverse=True)
    for label in found:
        assert set(label) == {"name", "score", "source"}
        assert label["source"] in SOURCES
        assert isinstance(label["score"], float) and 0.0 <= label["score"] <= 1.0
        assert label["score"] == round(label["score"], 4)
    assert len(by_source(found, "imagenet")) == runtime.TOP_CLASSES
    assert all(score >= runtime.CATEGORY_FLOOR for score in by_source(found, "category").values())


@pytest.fixture
def fresh_cache(settings, tmp_path, no_label_model) -> Path:
    """An empty model cache and no loaded session, so the next call builds from scratch."""
    settings.MODEL_CACHE_DIR = tmp_path / "models"
    return settings.MODEL_CACHE_DIR


# --- Class and category tables ---------------------------------------------------------


def test_class_table_is_imagenet_order():
    assert len(set(classes.IMAGENET_CLASSES)) == 1000
    assert classes.IMAGENET_CLASSES[0] == "tench"
    assert classes.IMAGENET_CLASSES[42] == "agama"
    assert classes.IMAGENET_CLASSES[207] == "golden retriever"
    assert classes.IMAGENET_CLASSES[857] == "throne"
    assert classes.IMAGENET_CLASSES[916] == "web site"
    assert classes.IMAGENET_CLASSES[999] == "toilet tissue"


def test_categories_group_the_expected_classes():
    ids = {name: index for index, name in enumerate(classes.IMAGENET_CLASSES)}
    assert ids["golden retriever"] in classes.CATEGORIES["dog"] <= classes.CATEGORIES["animal"]
    assert ids["agama"] in classes.CATEGORIES["reptile"] <= classes.CATEGORIES["animal"]
    assert ids["tabby"] in classes.CATEGORIES["cat"]
    assert ids["sports car"] in classes.CATEGORIES["car"] <= classes.CATEGORIES["vehicle"]
    for name in ("web site", "menu", "book jacket", "envelope", "comic book", "crossword puzzle"):
        assert ids[name] in classes.CATEGORIES["document"]
    assert not classes.CATEGORIES["animal"] & classes.CATEGORIES["vehicle"]
    # A label's name alone says what it is: no category is also a class name.
    assert not set(classes.CATEGORIES) & set(classes.IMAGENET_CLASSES)
    assert "person" not in classes.IMAGENET_CLASSES


# --- Reading the checkpoint without torch -------------------------------------------------


def test_state_dict_is_read_without_torch():
    weights = checkpoint.read_state_dict(builder.weights_path())
    assert weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert weights["_conv_head.weight"].shape == (1280, 320, 1, 1)
    assert weights["_fc.weight"].shape == (1000, 1280)
    assert weights["_fc.weight"].dtype == np.float32
    assert np.isfinite(weights["_fc.weight"]).all()
    assert weights["_bn0.running_var"].min() >= 0  # some channels are dead: exactly 0

    blocks = builder._blocks_from_weights(weights)
    # Lite0: 16 MBConv blocks; stages of 1, 2, 2, 3, 3, 4, 1 blocks, kernels 3 3 5 3 5 5 3.
    assert len(blocks) == 16
    assert [b.kernel for b in blocks] == [3, 3, 3, 5, 5, 3, 3, 3, 5, 5, 5, 5, 5, 5, 5, 3]
    assert [b.stride for b in blocks] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]
    assert [b.expanded for b in blocks] == [False] + [True] * 15
    assert "torch" not in sys.modules


def test_zip_checkpoint_reads_like_the_legacy_one(tmp_path):
    """torch >= 1.6 saves a zip; a newer wheel may ship one, so convert ours and compare."""
    legacy = builder.weights_path()
    with open(legacy, "rb") as stream:
        for _ in range(3):  # magic number, protocol, system info
            checkpoint._CheckpointUnpickler(stream).load()
        start = stream.tell()
        checkpoint._CheckpointUnpickler(stream).load()
        end = stream.tell()
        stream.seek(0)
        data_pkl = stream.read()[start:end]
    with open(legacy, "rb") as stream:
        _refs, storages = checkpoint._read_legacy_checkpoint(stream)
    converted = tmp_path / "lite0.pth"
    with zipfile.ZipFile(converted, "w") as archive:
        archive.writestr("lite0/data.pkl", data_pkl)
        archive.writestr("lite0/byteorder", "little")
        for key, data in storages.items():
            archive.writestr(f"lite0/data/{key}", data)

    original, from_zip = checkpoint.read_state_dict(legacy), checkpoint.read_state_dict(converted)
    assert from_zip.keys() == original.keys()
    for name, array in original.items():
        np.testing.assert_array_equal(from_zip[name], array)


def test_checkpoint_naming_other_callables_is_refused(tmp_path, fresh_cache, monkeypatch):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    hostile = tmp_path / "hostile.pth"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("x/data.pkl", pickle.dumps({"_fc.weight": Exploit()}))
    monkeypatch.setattr(builder, "weights_path", lambda: hostile)

    with pytest.raises(labels.LabelsUnavailable, match="unexpected global"):
        labels.warm_up(processing_limits())
    assert not marker.exists()


# --- Building, caching, loading ----------------------------------------------------------


def test_onnx_model_is_built_once_and_cached(fresh_cache, monkeypatch):
    built = builder.model_path(fresh_cache)
    assert built.parent == fresh_cache and built.suffix == ".onnx"
    assert built.stat().st_size > 15_000_000  # the float32 weights are in it
    assert not list(fresh_cache.glob("*.tmp"))
    stamp = built.stat().st_mtime_ns

    def no_rebuild(weights):
        raise AssertionError("the cached model should have been reused")

    monkeypatch.setattr(builder, "build_model", no_rebuild)
    assert builder.model_path(fresh_cache) == built
    assert built.stat().st_mtime_ns == stamp
    labels.warm_up(processing_limits())  # and onnxruntime loads the cached file


def test_different_weights_build_a_different_model(tmp_path, fresh_cache, monkeypatch):
    original = builder.model_path(fresh_cache)
    changed = tmp_path / "other-wheel.pth"
    shutil.copyfile(builder.weights_path(), changed)
    with open(changed, "r+b") as stream:  # flip the lowest mantissa bit of the last float
        stream.seek(-4, os.SEEK_END)
        byte = stream.read(1)[0]
        stream.seek(-4, os.SEEK_END)
        stream.write(bytes([byte ^ 1]))
    monkeypatch.setattr(builder, "weights_path", lambda: changed)

    rebuilt = builder.model_path(fresh_cache)
    assert rebuilt != original
    assert rebuilt.exists() and original.exists()


def test_missing_weights_make_labels_unavailable(tmp_path, fresh_cache, monkeypatch):
    monkeypatch.setattr(builder, "weights_path", lambda: tmp_path / "gone.pth")
    with pytest.raises(labels.LabelsUnavailable, match="gone.pth"):
        labels.image_labels(photo("photo_exif/Kodak_CX7530.jpg"), processing_limits())


def test_uninstalled_wheel_makes_labels_unavailable(fresh_cache, monkeypatch):
    monkeypatch.setattr(builder.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(labels.LabelsUnavailable, match="not installed"):
        labels.warm_up(processing_limits())


def test_damaged_weights_make_labels_unavailable(tmp_path, fresh_cache, monkeypatch):
    damaged = tmp_path / "damaged.pth"
    damaged.write_bytes(builder.weights_path().read_bytes()[:50_000])
    monkeypatch.setattr(builder, "weights_path", lambda: damaged)
    with pytest.raises(labels.LabelsUnavailable, match="cannot build"):
        labels.warm_up(processing_limits())
    assert not list(fresh_cache.glob("*.onnx"))


def test_concurrent_first_calls_share_one_session(fresh_cache, monkeypatch):
    builds = []
    real_build = builder.build_model
    monkeypatch.setattr(builder, "build_model", lambda weights: builds.append(1) or real_build(weights))
    sessions = []
    limits = processing_limits()
    threads = [threading.Thread(target=lambda: sessions.append(runtime._session_get(limits))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sessions) == 4 and len({id(session) for session in sessions}) == 1
    assert builds == [1]


# --- Predictions on real photos -----------------------------------------------------------


def test_rock_agama_is_a_reptile():
    found = labels.image_labels(photo("photo_exif/Kodak_CX7530.jpg"), processing_limits())
    assert_well_formed(found)
    assert found[0]["source"] == "category"
    classes, categories = by_source(found, "imagenet"), by_source(found, "category")
    assert max(classes, key=classes.get) == "agama"
    assert classes["agama"] > 0.9
    assert categories["reptile"] > 0.9 and categories["animal"] > 0.9
    assert "person" not in by_source(found, "faces")


def test_iguana_thumbnail_is_an_animal():
    # 100×68 px: too small to name the species with confidence, but clearly an animal.
    found = labels.image_labels(photo("photo_exif/Canon_40D.jpg"), processing_limits())
    assert_well_formed(found)
    categories = by_source(found, "category")
    assert max(categories, key=categories.get) == "animal"
    assert categories["animal"] > 0.6
    assert "reptile" in categories


def test_throne_room_is_furniture():
    found = labels.image_labels(photo("photo_exif/court-exif.jpg"), processing_limits())
    assert_well_formed(found)
    classes, categories = by_source(found, "imagenet"), by_source(found, "category")
    assert max(classes, key=classes.get) == "throne"
    assert classes["throne"] > 0.6
    assert max(categories, key=categories.get) == "furniture"
    assert "building" in categories


def test_portrait_gets_person_from_faces():
    found = labels.image_labels(photo("image_formats/hopper.bmp"), processing_limits())
    assert_well_formed(found)
    # OpenCV 5 dropped CascadeClassifier and the bundled cascades: pin opencv-python-headless 4.x.
    assert by_source(found, "faces") == {"person": 0.7}, "no face found; does this OpenCV ship Haar cascades?"
    assert "clothing" in by_source(found, "category")  # a uniform


@pytest.mark.parametrize(
    "background", ["large_dimension/jolla.jpg", "image_formats/sugarshack.mpo", "photo_exif/portrait_5.jpg"]
)
def test_a_portrait_in_a_photo_is_one_face_wherever_it_is(background):
    # Grace Hopper's portrait pasted into photos without faces, 0.4 to 0.8 of their short side
    # (her face about a quarter to a half), in a corner, the middle and the opposite corner.
    # The "default" cascade in 1.15× steps missed her in 6 of the 9 on the sugar shack, 2 on the portrait.
    portrait, scene = photo("image_formats/hopper.bmp", 128), photo(background)
    width, height = scene.size
    for fraction in (0.4, 0.6, 0.8):
        side = round(min(width, height) * fraction)
        for across, down in ((0.1, 0.1), (0.5, 0.5), (0.9, 0.8)):
            picture = scene.copy()
            picture.paste(portrait.resize((side, side)), (int((width - side) * across), int((height - side) * down)))
            assert faces.face_count(picture) == 1, (fraction, across, down)


def test_landscape_and_leaf_have_no_false_faces():
    for relative in ("photo_exif/portrait_5.jpg", "large_dimension/jolla.jpg", "image_formats/sugarshack.mpo"):
        assert faces.face_count(photo(relative)) == 0, relative


def test_rendered_text_page_is_a_document():
    import pypdfium2

    pdf = pypdfium2.PdfDocument(CORPUS / "document_pdf" / "google-doc-document.pdf")
    try:
        page = pdf[0].render(scale=1).to_pil().convert("RGB")
    finally:
        pdf.close()
    found = labels.image_labels(page, processing_limits())
    assert_well_formed(found)
    categories = by_source(found, "category")
    assert max(categories, key=categories.get) == "document"
    assert categories["document"] > 0.5


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "I;16"])
def test_any_image_mode_is_labelled(mode):
    image = photo("photo_exif/Kodak_CX7530.jpg").convert(mode)
    assert_well_formed(labels.image_labels(image, processing_limits()))


def test_tiny_and_extreme_shapes_are_labelled():
    for size in ((1, 1), (3000, 20), (20, 3000)):
        assert_well_formed(labels.image_labels(Image.new("RGB", size, (120, 90, 60)), processing_limits()))


def test_documents_get_one_type_label():
    assert labels.document_labels() == [{"name": "document", "score": 1.0, "source": "type"}]
