"""Image renditions as a user gets them: their sizes, what they keep and drop, and how sharp they are.

Photos are made from the corpus's real 8 MP photo (jolla.jpg) at the sizes cameras produce,
so the reduced JPEG decode, the resize cascade and the optimized copy all run as in production.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from files.processing import labels
from files.processing.images import ImageResult, process_image
from files.services.processing import processing_limits
from tests.helpers import CORPUS

SOURCE = CORPUS / "large_dimension" / "jolla.jpg"
KINDS = {"large": 1600, "medium": 800, "thumbnail": 200}


def camera_photo(folder: Path, size: tuple[int, int], *, orientation: int = 1) -> tuple[ImageResult, int]:
    """A JPEG of `size` from the corpus photo, with its camera EXIF plus a GPS position, processed;
    and its byte size."""
    with Image.open(SOURCE) as source:
        exif = source.getexif()
        picture = source.convert("RGB").resize(size, Image.Resampling.BILINEAR)
    exif[0x0112] = orientation
    exif.get_ifd(0x8825).update({1: "N", 2: (60.0, 10.0, 12.0), 3: "E", 4: (24.0, 56.0, 30.0)})
    path = folder / "photo.jpg"
    picture.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return process_image(str(path), original_size=path.stat().st_size, limits=processing_limits()), path.stat().st_size


def decoded(data: bytes) -> Image.Image:
    picture = Image.open(io.BytesIO(data))
    picture.load()
    return picture


def by_kind(result) -> dict[tuple[str, str], object]:
    return {(r.kind, r.format): r for r in result.renditions}


def assert_renditions_fit(result, display: tuple[int, int]) -> None:
    """Each kind in both formats, fitted to its size with the photo's aspect, never upscaled, no EXIF."""
    renditions = by_kind(result)
    assert set(renditions) >= {(kind, fmt) for kind in KINDS for fmt in ("webp", "jpeg")}
    for (kind, fmt), rendition in renditions.items():
        picture = decoded(rendition.data)
        assert picture.format.lower() == fmt
        assert picture.size == (rendition.width, rendition.height)
        side = KINDS.get(kind, 2560)
        assert max(picture.size) == min(side, max(display)) or kind == "optimized", (kind, picture.size)
        assert max(picture.size) <= side
        assert abs(picture.width / picture.height - display[0] / display[1]) < 0.01, (kind, picture.size)
        # No EXIF at all, so neither GPS nor an orientation that would turn it a second time.
        assert not picture.getexif(), (kind, fmt)


def test_12_mp_photo_renditions(tmp_path):
    result, size = camera_photo(tmp_path, (4000, 3000))
    assert result.metadata["gps"] is not None  # the original has GPS ...
    assert_renditions_fit(result, (4000, 3000))  # ... the renditions have no EXIF
    renditions = by_kind(result)
    assert (renditions["large", "jpeg"].width, renditions["large", "jpeg"].height) == (1600, 1200)
    assert (renditions["thumbnail", "webp"].width, renditions["thumbnail", "webp"].height) == (200, 150)
    optimized = renditions["optimized", "webp"]
    assert 1600 <= max(optimized.width, optimized.height) <= 2560
    assert len(optimized.data) < size and result.optimized_saving_bytes == size - len(optimized.data)


def test_24_mp_photo_gets_a_full_2560_px_optimized_copy(tmp_path):
    result, size = camera_photo(tmp_path, (6000, 4000))
    assert_renditions_fit(result, (6000, 4000))
    optimized = by_kind(result)["optimized", "webp"]
    assert (optimized.width, optimized.height) == (2560, 1707)
    assert decoded(optimized.data).format == "WEBP" and len(optimized.data) < size


def test_exif_orientation_turns_every_rendition(tmp_path):
    result, _size = camera_photo(tmp_path, (4000, 3000), orientation=6)  # stored landscape, shown portrait
    assert (result.metadata["width"], result.metadata["height"]) == (3000, 4000)
    assert_renditions_fit(result, (3000, 4000))
    assert by_kind(result)["large", "webp"].height == 1600


def test_small_pictures_are_never_upscaled(tmp_path):
    path = tmp_path / "small.png"
    Image.open(SOURCE).convert("RGB").resize((1000, 750)).save(path)
    result = process_image(str(path), original_size=path.stat().st_size, limits=processing_limits())

    assert_renditions_fit(result, (1000, 750))
    assert (by_kind(result)["large", "jpeg"].width, by_kind(result)["large", "jpeg"].height) == (1000, 750)
    assert ("optimized", "webp") not in by_kind(result)  # not bigger than the large rendition


def zone_plate(width: int, height: int, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rings whose frequency rises with the radius (to 0.45 cycles/px at the corners of the
    2000×1500 original), sampled at the pixel centres of a picture `scale` times smaller; and
    each pixel's frequency in cycles per pixel of that picture."""
    spread = 1250 / (2 * 0.45)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = (x + 0.5) * scale - 1000, (y + 0.5) * scale - 750
    radius_sq = x * x + y * y
    return 127.5 + 127.5 * np.cos(np.pi * radius_sq / (2 * spread)), np.sqrt(radius_sq) / (2 * spread) * scale


def test_fine_patterns_keep_their_detail_and_make_no_moire(tmp_path):
    # Rings finer than a rendition can hold must fade to even grey, not come back as coarse
    # false rings (moiré, what a box or bilinear shrink leaves: grey spread 20-26 in the
    # medium rendition), and rings it can hold must keep their contrast (a blurring filter
    # is 7-10 off).
    path = tmp_path / "zone.png"
    Image.fromarray(zone_plate(2000, 1500)[0].round().astype(np.uint8)).convert("RGB").save(path)
    result = process_image(str(path), original_size=path.stat().st_size, limits=processing_limits())

    for (kind, fmt), rendition in by_kind(result).items():
        grey = np.asarray(decoded(rendition.data).convert("L"), dtype=np.float64)
        ideal, frequency = zone_plate(grey.shape[1], grey.shape[0], 2000 / grey.shape[1])
        held = frequency <= 0.2
        assert np.sqrt(np.mean((grey[held] - ideal[held]) ** 2)) < 5, (kind, fmt)
        beyond = frequency >= 0.6
        if beyond.any():
            assert grey[beyond].std() < (15 if kind == "medium" else 5), (kind, fmt)


def test_transparent_edges_stay_clean(tmp_path):
    # Resizing straight (not premultiplied) colour would pull the black of the transparent
    # pixels into the edge of the shape: a dark ring on the JPEG, which is flattened onto white.
    path = tmp_path / "logo.png"
    picture = Image.new("RGBA", (2000, 1500), (0, 0, 0, 0))
    picture.paste((255, 255, 255, 255), (500, 400, 1500, 1100))
    picture.save(path)
    result = process_image(str(path), original_size=path.stat().st_size, limits=processing_limits())

    for kind in KINDS:
        flat = np.asarray(decoded(by_kind(result)[kind, "jpeg"].data).convert("L"))
        assert flat.min() > 235, kind
        alpha = np.asarray(decoded(by_kind(result)[kind, "webp"].data).getchannel("A"))
        assert alpha.min() == 0 and alpha.max() == 255, kind


@pytest.mark.parametrize("size", [(20, 40_000), (40_000, 20)], ids=["strip", "panorama"])
def test_a_thin_strip_gets_renditions_of_its_shape(tmp_path, size):
    # Shrunk 25-40 times along its long side: before the box pre-shrink, the Lanczos filter's
    # work grew with the square of that factor (a 1 × 1,000,000 px column took 7 s, where no
    # soft time limit could interrupt it). The content must stay where it was along that side.
    long_side = max(size)
    ramp = np.linspace(0, 255, long_side)
    grey = np.tile(ramp, (min(size), 1))
    path = tmp_path / "strip.png"
    Image.fromarray((grey.T if size[1] > size[0] else grey).round().astype(np.uint8)).convert("RGB").save(path)
    result = process_image(str(path), original_size=path.stat().st_size, limits=processing_limits())

    renditions = by_kind(result)
    assert set(renditions) == {(kind, fmt) for kind in KINDS for fmt in ("webp", "jpeg")}
    for (kind, fmt), rendition in renditions.items():
        picture = decoded(rendition.data)
        expected = (1, KINDS[kind]) if size[1] > size[0] else (KINDS[kind], 1)
        assert picture.size == (rendition.width, rendition.height) == expected, (kind, fmt)
        along = np.asarray(picture.convert("L"), dtype=np.float64).ravel()
        ideal = np.interp((np.arange(along.size) + 0.5) * long_side / along.size - 0.5, np.arange(long_side), ramp)
        assert np.abs(along - ideal).mean() < 2, (kind, fmt)


@pytest.mark.django_db
def test_a_side_longer_than_the_limit_fails_before_decoding(editor, tenant, settings):
    from files.models import File
    from files.tasks import process_file
    from tests.files.conftest import upload

    # 70,000 pixels, far under the pixel limit, and a few hundred bytes; their end cut off, so
    # decoding them would fail otherwise (`corrupt_image`).
    out = io.BytesIO()
    Image.new("L", (1, settings.PROCESSING_MAX_SIDE + 4_500)).save(out, "PNG")
    file_id = upload(editor, tenant, "strip.png", out.getvalue()[:-30]).json()["id"]

    assert process_file.apply(args=(file_id,)).result == "failed"

    file = File.objects.get(pk=file_id)
    assert (file.status, file.error_code) == ("failed", "image_dimensions_unsupported")
    assert file.error == "The image is 1×70000 pixels; sides longer than 65,500 pixels are not supported."
    assert file.labels == [] and not file.current_version.blob.renditions.exists()


@pytest.mark.parametrize("relative", ["large_dimension/jolla.jpg", "photo_exif/canon_hdr_NO.jpg"])
def test_labels_of_the_preview_match_a_full_resolution_resize(relative):
    # The labeller reads the medium rendition; made by the cascade from a reduced decode, it
    # must label like a Lanczos resize of the whole original does.
    path = CORPUS / relative
    result = process_image(str(path), original_size=path.stat().st_size, limits=processing_limits())
    with Image.open(path) as original:
        reference = ImageOps.exif_transpose(original).convert("RGB")
    reference.thumbnail((800, 800), Image.Resampling.LANCZOS)
    assert result.preview.size == reference.size

    ours, theirs = (
        labels.image_labels(result.preview, processing_limits()),
        labels.image_labels(reference, processing_limits()),
    )
    assert [label["name"] for label in ours[:3]] == [label["name"] for label in theirs[:3]]
    scores = {label["name"]: label["score"] for label in theirs}
    for label in ours[:3]:
        assert label["score"] == pytest.approx(scores[label["name"]], abs=0.05), label
