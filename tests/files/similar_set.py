"""A test set of near-duplicates made from the corpus photos, for tests and bench/similar.py.

Each photo gets copies that are re-encoded (JPEG at another quality, PNG, WebP), resized,
cropped and edited (brightness, a small overlay); every pair across two photos is
unrelated. Made in memory, deterministically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pillow_heif
from PIL import Image, ImageDraw, ImageEnhance, ImageOps

from tests.helpers import CORPUS

pillow_heif.register_heif_opener()

# Photos of distinct scenes (hopper.bmp's WebP and AVIF twins stay out: they are copies).
PHOTOS = (
    "photo_exif/court-exif.jpg",
    "photo_exif/landscape_6.jpg",
    "photo_exif/canon_hdr_NO.jpg",
    "photo_exif/IMG_5195.HEIC",
    "photo_exif/flower.webp",
    "photo_exif/Kodak_CX7530.jpg",
    "image_formats/progressive_icc.jpg",
    "image_formats/sugarshack.mpo",
    "image_formats/hopper.bmp",
    "large_dimension/jolla.jpg",
    "large_dimension/balloon.jpf",
)
# Working copies are at most this long, so the set builds in seconds.
MAX_SIDE = 1200


@dataclass(frozen=True)
class Sample:
    photo: str  # the corpus photo it is made from
    variant: str  # "original" or the change made
    kind: str | None  # its kind relative to the original; None for the original
    data: bytes
    name: str


def _save(picture: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    picture.save(out, fmt, **options)
    return out.getvalue()


def _scaled(picture: Image.Image, factor: float) -> Image.Image:
    size = (max(1, round(picture.width * factor)), max(1, round(picture.height * factor)))
    return picture.resize(size, Image.Resampling.LANCZOS)


def _crop(picture: Image.Image, keep: float) -> Image.Image:
    width, height = picture.size
    dx, dy = round(width * (1 - keep) / 2), round(height * (1 - keep) / 2)
    return picture.crop((dx, dy, width - dx, height))  # trims the sides and the top only


def _overlay(picture: Image.Image) -> Image.Image:
    edited = picture.copy()
    draw = ImageDraw.Draw(edited)
    width, height = edited.size
    box = (round(width * 0.70), round(height * 0.85), round(width * 0.95), round(height * 0.95))
    # A coloured sticker: a white box on a white sky would change nothing a hash can see.
    draw.rectangle(box, fill=(200, 30, 30))
    draw.text((box[0] + 4, box[1] + 2), "© 2024", fill=(255, 255, 255))
    return edited


def variants(picture: Image.Image) -> list[tuple[str, str, bytes, str]]:
    """(variant, kind, bytes, extension) of the copies made from `picture`."""
    return [
        ("jpeg-q60", "re-encoded", _save(picture, "JPEG", quality=60), "jpg"),
        ("png", "re-encoded", _save(picture, "PNG"), "png"),
        ("webp", "re-encoded", _save(picture, "WEBP", quality=75), "webp"),
        ("half", "resized", _save(_scaled(picture, 0.5), "JPEG", quality=85), "jpg"),
        ("third", "resized", _save(_scaled(picture, 0.33), "WEBP", quality=80), "webp"),
        ("crop", "edited", _save(_crop(picture, 0.92), "JPEG", quality=90), "jpg"),
        ("brighter", "edited", _save(ImageEnhance.Brightness(picture).enhance(1.15), "JPEG", quality=90), "jpg"),
        ("overlay", "edited", _save(_overlay(picture), "JPEG", quality=90), "jpg"),
    ]


def original(path: str) -> Image.Image:
    picture = ImageOps.exif_transpose(Image.open(CORPUS / path)).convert("RGB")
    # PNG would carry the profile along and JPEG drop it: the copies would show other colours.
    picture.info.pop("icc_profile", None)
    if max(picture.size) > MAX_SIDE:
        picture = _scaled(picture, MAX_SIDE / max(picture.size))
    return picture


def build(photos: tuple[str, ...] = PHOTOS) -> list[Sample]:
    """The originals (as high-quality JPEGs with their size kept) and their copies."""
    samples = []
    for path in photos:
        picture = original(path)
        stem = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        samples.append(Sample(path, "original", None, _save(picture, "JPEG", quality=95), f"{stem}.jpg"))
        for variant, kind, data, ext in variants(picture):
            samples.append(Sample(path, variant, kind, data, f"{stem}-{variant}.{ext}"))
    return samples
