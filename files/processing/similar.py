"""Perceptual fingerprints of pictures, and how two of them relate.

A fingerprint holds three signatures of the oriented sRGB picture: a 64-bit pHash (the
DCT of a 32×32 grey picture: robust to re-encoding, resizing and brightness), a 64-bit
dHash (gradients of a 9×8 grey picture: a second opinion that unrelated pictures rarely
share with the first), and a colour signature (the mean colour of each quarter, 5 bits a
channel) and a 4×4 grey grid (4 bits a cell), plus what decides which copy is best: pixel size, bytes, format, JPEG quality
and whether it carries EXIF metadata.

Hashes are stored as signed 64-bit integers (PostgreSQL bigint); `bands` splits the pHash
into the four 16-bit keys the index is searched by.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
from PIL import Image

BAND_BITS = 16
BAND_COUNT = 4
COLOUR_BITS = 5
GRID_SIDE = 8

# Kinds, from the closest relation to the loosest.
EXACT = "exact"
REENCODED = "re-encoded"
RESIZED = "resized"
EDITED = "edited"
KINDS = (EXACT, REENCODED, RESIZED, EDITED)

# Tuned on the test set built from corpus photos (tests/files/similar_set.py, figures in
# docs/benchmarks.md). The same picture re-encoded or resized stays within SAME_PICTURE of
# the pHash and twice that of the dHash, with its colours kept (a brightness change moves
# them by 2 steps or more). An edit moves one hash or both: a crop of a few per cent moves
# both by up to 15 bits, a small overlay the pHash by up to 18 and the dHash hardly at all;
# unrelated photos stayed 18 or more apart in each, and 42 or more in the two together.
SAME_PICTURE = 4
SAME_COLOUR = 1  # per channel and quarter, in 5-bit steps
# The grey grid of a re-encoded copy moves by a level or two, a small overlay's cells by 5
# or more; a small copy's grid blurs (a 33 px wide copy moved cells by 15).
SAME_SIZE_GRID = 4
RESIZED_GRID = 16
EDIT_MAX_DISTANCE = 18  # of each hash
EDIT_DISTANCE_SUM = 28  # of the two together
EDIT_COLOUR = 8
# Aspect ratios closer than this are the same shape (rounding when resized).
SAME_ASPECT = 0.02
# Lossless formats outrank any JPEG; among lossy ones a higher quality wins.
LOSSLESS_FORMATS = {"PNG", "TIFF", "BMP"}


@dataclass(frozen=True)
class Fingerprint:
    phash: int  # signed 64-bit
    dhash: int
    colour: int
    # The mean grey of each cell of an 8×8 grid: a local change the hashes miss (an overlay).
    grid: bytes
    width: int
    height: int
    format: str = ""
    quality: int | None = None  # JPEG quality estimated from its tables; None if unknown
    has_exif: bool = False
    size: int = 0  # bytes of the file

    @property
    def bands(self) -> tuple[int, ...]:
        return bands(self.phash)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsigned(value: int) -> int:
    return value & ((1 << 64) - 1)


def _hash_int(hashed: imagehash.ImageHash) -> int:
    value = 0
    for bit in hashed.hash.flatten():
        value = (value << 1) | int(bit)
    return _signed(value)


def bands(phash: int) -> tuple[int, ...]:
    """The hash's four 16-bit bands (0-65535), most significant first."""
    value = _unsigned(phash)
    mask = (1 << BAND_BITS) - 1
    return tuple((value >> (BAND_BITS * (BAND_COUNT - 1 - i))) & mask for i in range(BAND_COUNT))


def hamming(a: int, b: int) -> int:
    return (_unsigned(a) ^ _unsigned(b)).bit_count()


def _colour_signature(picture: Image.Image) -> int:
    small = picture.convert("RGB").resize((2, 2), Image.Resampling.BOX)
    value = 0
    for pixel in small.get_flattened_data():
        for channel in pixel:
            value = (value << COLOUR_BITS) | (channel >> (8 - COLOUR_BITS))
    return value


def _grey_grid(picture: Image.Image) -> bytes:
    return picture.convert("L").resize((GRID_SIDE, GRID_SIDE), Image.Resampling.BOX).tobytes()


def grid_distance(a: bytes, b: bytes) -> int:
    """The largest difference of one cell of the grey grids (0-255); 255 if either is missing."""
    if len(a) != GRID_SIDE * GRID_SIDE or len(b) != len(a):
        return 255
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def colour_distance(a: int, b: int) -> int:
    """The largest difference of one channel in one quarter, in 5-bit steps."""
    mask = (1 << COLOUR_BITS) - 1
    return max(abs(((a >> shift) & mask) - ((b >> shift) & mask)) for shift in range(0, 60, COLOUR_BITS))


# libjpeg's luminance table at quality 50 (natural order, as Pillow reports tables).
_LUMINANCE_50 = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip


def jpeg_quality(image: Image.Image) -> int | None:
    """The libjpeg quality a JPEG was most likely saved at, from its luminance table
    (libjpeg scales the table by 5000/q below 50 and by 200 - 2q from 50 on)."""
    tables = getattr(image, "quantization", None)
    if image.format not in ("JPEG", "MPO") or not tables or 0 not in tables or len(tables[0]) != 64:
        return None
    ratio = sum(t / b for t, b in zip(tables[0], _LUMINANCE_50, strict=True)) / 64 * 100
    quality = 5000 / ratio if ratio > 100 else (200 - ratio) / 2
    return max(1, min(100, round(quality)))


def fingerprint(
    picture: Image.Image,
    *,
    width: int,
    height: int,
    format: str = "",
    quality: int | None = None,
    has_exif: bool = False,
    size: int = 0,
) -> Fingerprint:
    """The fingerprint of `picture` (oriented, any size: it is reduced to 32×32 anyway);
    `width` and `height` are the full picture's, which a reduced decode does not show."""
    grey = picture.convert("L")
    return Fingerprint(
        phash=_hash_int(imagehash.phash(grey)),
        dhash=_hash_int(imagehash.dhash(grey)),
        colour=_colour_signature(picture),
        grid=_grey_grid(grey),
        width=width,
        height=height,
        format=format or "",
        quality=quality,
        has_exif=has_exif,
        size=size,
    )


def _aspect(fp: Fingerprint) -> float:
    return fp.width / fp.height if fp.height else 0.0


def kind_of(a: Fingerprint, b: Fingerprint, *, same_bytes: bool = False) -> str | None:
    """How `b` relates to `a`: one of KINDS, or None when they are not the same picture."""
    if same_bytes:
        return EXACT
    distance, dhash_distance = hamming(a.phash, b.phash), hamming(a.dhash, b.dhash)
    colours = colour_distance(a.colour, b.colour)
    cells = grid_distance(a.grid, b.grid)
    same_aspect = abs(_aspect(a) - _aspect(b)) <= SAME_ASPECT * max(_aspect(a), _aspect(b))
    if distance <= SAME_PICTURE and dhash_distance <= SAME_PICTURE * 2 and colours <= SAME_COLOUR and same_aspect:
        if (a.width, a.height) == (b.width, b.height):
            if cells <= SAME_SIZE_GRID:
                return REENCODED
        elif cells <= RESIZED_GRID:
            return RESIZED
    near = max(distance, dhash_distance) <= EDIT_MAX_DISTANCE and distance + dhash_distance <= EDIT_DISTANCE_SUM
    if near and colours <= EDIT_COLOUR:
        return EDITED
    return None


def best_key(fp: Fingerprint) -> tuple:
    """Sorts copies best first (descending): largest picture, least compressed, metadata."""
    area = fp.width * fp.height
    lossless = fp.format.upper() in LOSSLESS_FORMATS
    quality = 101 if lossless else (fp.quality or 0)
    bytes_per_pixel = fp.size / area if area else 0
    return (area, quality, bytes_per_pixel, fp.has_exif)
