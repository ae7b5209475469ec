"""Perceptual fingerprints on a test set made from the corpus photos: every copy's kind is
told apart and no two unrelated photos are reported (tests/files/similar_set.py)."""

from __future__ import annotations

import io
import itertools

import pytest
from PIL import Image

from files.processing import similar
from files.processing.images import image_fingerprint, process_image
from files.services.processing import processing_limits
from tests.files import similar_set


@pytest.fixture(scope="module")
def samples():
    return similar_set.build()


@pytest.fixture(scope="module")
def fingerprints(samples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("similar")
    found = []
    for sample in samples:
        path = folder / sample.name
        path.write_bytes(sample.data)
        found.append(image_fingerprint(str(path), original_size=len(sample.data), limits=processing_limits()))
    return found


def test_every_copy_is_found_with_its_kind(samples, fingerprints):
    originals = {s.photo: fp for s, fp in zip(samples, fingerprints, strict=True) if s.variant == "original"}
    wrong = [
        (s.name, s.kind, similar.kind_of(originals[s.photo], fp))
        for s, fp in zip(samples, fingerprints, strict=True)
        if s.kind is not None and similar.kind_of(originals[s.photo], fp) != s.kind
    ]
    assert wrong == []


def test_no_unrelated_pair_is_reported(samples, fingerprints):
    reported = [
        (a.name, b.name)
        for (a, fa), (b, fb) in itertools.combinations(zip(samples, fingerprints, strict=True), 2)
        if a.photo != b.photo and similar.kind_of(fa, fb) is not None
    ]
    assert reported == []
    assert len({s.photo for s in samples}) >= 10


def test_processing_takes_the_same_fingerprint_as_the_backfill(samples, fingerprints, tmp_path):
    sample, expected = samples[0], fingerprints[0]
    path = tmp_path / sample.name
    path.write_bytes(sample.data)
    found = process_image(str(path), original_size=len(sample.data), limits=processing_limits()).fingerprint
    assert similar.kind_of(expected, found) == similar.REENCODED
    assert (found.width, found.height, found.format, found.quality) == (
        expected.width,
        expected.height,
        "JPEG",
        95,
    )


def test_the_best_copy_is_largest_then_least_compressed_then_with_metadata():
    base = dict(phash=0, dhash=0, colour=0, grid=bytes(64), format="JPEG")
    small = similar.Fingerprint(width=100, height=100, quality=95, size=9000, **base)
    large_low = similar.Fingerprint(width=200, height=200, quality=60, size=9000, **base)
    large_high = similar.Fingerprint(width=200, height=200, quality=90, size=20000, **base)
    large_png = similar.Fingerprint(**{**base, "format": "PNG"}, width=200, height=200, size=90000)
    with_exif = similar.Fingerprint(width=200, height=200, quality=90, size=20000, has_exif=True, **base)
    ranked = sorted([small, large_low, large_high, large_png, with_exif], key=similar.best_key, reverse=True)
    assert ranked == [large_png, with_exif, large_high, large_low, small]


@pytest.mark.parametrize("quality", [40, 75, 92])
def test_jpeg_quality_is_read_from_the_tables(quality):
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 80, 40)).save(out, "JPEG", quality=quality)
    assert abs(similar.jpeg_quality(Image.open(out)) - quality) <= 1


def test_bands_cover_the_hash_and_distances_count_bits():
    value = similar._signed(0xFFFF_0000_1234_8001)
    assert similar.bands(value) == (0xFFFF, 0x0000, 0x1234, 0x8001)
    assert similar.hamming(value, value ^ 0b1011) == 3
    assert similar.hamming(-1, 0) == 64
