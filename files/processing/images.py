"""Images: metadata, and renditions from a single decode.

The expensive part of a photo is decoding it. JPEG draft mode lets libjpeg decode at
1/2, 1/4 or 1/8 scale directly, so a photo is decoded at about the size of the largest
rendition we need; each smaller rendition is then resized from the previous one (a
cascade). The resizing is done by OpenCV on the pixel array (`_downscale`), with the same
Lanczos filter as Pillow's but several times faster.
"""

from __future__ import annotations

import io
import math
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

import cv2
import numpy as np
from PIL import Image, ImageCms, UnidentifiedImageError

from files.processing.errors import ProcessingError
from files.processing.limits import Limits
from files.processing.similar import Fingerprint, fingerprint, jpeg_quality

try:  # HEIC/HEIF support comes from a plugin
    import pillow_heif

    pillow_heif.register_heif_opener()
except ImportError:  # pragma: no cover - the plugin is in requirements/base.txt
    pass

# Long side of each rendition; never upscaled.
SIZES = {"large": 1600, "medium": 800, "thumbnail": 200}
OPTIMIZED_SIDE = 2560
# Below this the original is small enough that an optimised copy is not worth storing.
OPTIMIZE_MIN_BYTES = 300 * 1024
WEBP_OPTIONS = {"quality": 80, "method": 0}
# Baseline, not progressive: progressive encoding costs several times more at these sizes.
JPEG_OPTIONS = {"quality": 85, "optimize": False, "progressive": False}
ORIENTATION_SWAPS = {5, 6, 7, 8}
FORMATS = ("webp", "jpeg")
ANIMATED_FORMATS = {"GIF", "WEBP", "PNG", "AVIF", "HEIF"}


@dataclass
class RenditionImage:
    kind: str
    format: str
    data: bytes
    width: int
    height: int


@dataclass
class ImageResult:
    metadata: dict
    renditions: list[RenditionImage] = field(default_factory=list)
    # The decoded, oriented, sRGB picture at ≤ 800 px, for the labeller (no second decode).
    preview: Image.Image | None = None
    # The same picture at ≤ 1600 px (the large rendition's), for OCR to read small text in.
    large: Image.Image | None = None
    optimized_saving_bytes: int | None = None
    timings: dict[str, float] = field(default_factory=dict)
    fingerprint: Fingerprint | None = None


def _open(path: str, limits: Limits) -> Image.Image:
    # Pillow's own bomb check is process-wide; it is set to the limit every image is opened with.
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ProcessingError("image_too_large", "The image has more pixels than the limit allows.") from None
    except UnidentifiedImageError:
        raise ProcessingError("corrupt_image", "The image is damaged or not a format we can read.") from None
    except ValueError as exc:  # e.g. PNG text chunks that inflate past Pillow's limit
        raise ProcessingError("corrupt_image", f"The image cannot be read safely: {exc}.") from None
    except OSError as exc:
        raise ProcessingError("corrupt_image", f"The image is damaged: {exc}.") from None
    width, height = image.size
    if width * height > limits.max_pixels:
        raise ProcessingError(
            "image_too_large",
            f"The image is {width}×{height} pixels, over the limit of {limits.max_pixels:,}.",
        )
    if max(width, height) > limits.max_side:
        raise ProcessingError(
            "image_dimensions_unsupported",
            f"The image is {width}×{height} pixels; sides longer than {limits.max_side:,} pixels are not supported.",
        )
    return image


# --- Metadata ---------------------------------------------------------------------


def _ratio(value) -> float | None:
    try:
        return round(
            float(Fraction(value.numerator, value.denominator)) if hasattr(value, "denominator") else float(value), 6
        )
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _gps(gps: dict) -> dict | None:
    def degrees(values, ref) -> float | None:
        try:
            d, m, s = (float(v) for v in values)
        except (TypeError, ValueError, ZeroDivisionError):
            return None
        result = d + m / 60 + s / 3600
        return round(-result if ref in ("S", "W", b"S", b"W") else result, 6)

    if not gps or 2 not in gps or 4 not in gps:
        return None
    lat, lon = degrees(gps[2], gps.get(1)), degrees(gps[4], gps.get(3))
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return None
    return {"lat": lat, "lon": lon}


def _taken_at(exif_ifd: dict, base: dict) -> str | None:
    raw = exif_ifd.get(0x9003) or exif_ifd.get(0x9004) or base.get(0x0132)  # DateTimeOriginal, Digitized, DateTime
    if not raw or not isinstance(raw, str):
        return None
    try:
        moment = datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = exif_ifd.get(0x9011) or exif_ifd.get(0x9010)  # OffsetTimeOriginal, OffsetTime
    stamp = moment.isoformat()
    if isinstance(offset, str) and len(offset.strip("\x00 ")) == 6:
        stamp += offset.strip("\x00 ")
    return stamp


def _clean(value):
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return value.strip("\x00 ") if isinstance(value, str) else value


def image_metadata(image: Image.Image) -> dict:
    exif = image.getexif()
    orientation = exif.get(0x0112, 1)
    width, height = image.size
    if orientation in ORIENTATION_SWAPS:
        width, height = height, width
    frames = getattr(image, "n_frames", 1)
    metadata: dict = {
        "width": width,
        "height": height,
        "format": image.format,
        "mode": image.mode,
        # Multi-page TIFFs have frames too, but pages are not an animation.
        "animated": bool(getattr(image, "is_animated", False)) and image.format in ANIMATED_FORMATS,
        "frame_count": frames,
        "orientation": orientation,
    }
    exif_ifd = exif.get_ifd(0x8769)
    metadata["taken_at"] = _taken_at(exif_ifd, exif)
    metadata["camera_make"] = _clean(exif.get(0x010F)) or None
    metadata["camera_model"] = _clean(exif.get(0x0110)) or None
    metadata["lens"] = _clean(exif_ifd.get(0xA434)) or None
    metadata["exposure_time"] = _ratio(exif_ifd.get(0x829A)) if exif_ifd.get(0x829A) is not None else None
    metadata["f_number"] = _ratio(exif_ifd.get(0x829D)) if exif_ifd.get(0x829D) is not None else None
    iso = exif_ifd.get(0x8827)
    metadata["iso"] = int(iso[0] if isinstance(iso, tuple) else iso) if iso else None
    metadata["focal_length"] = _ratio(exif_ifd.get(0x920A)) if exif_ifd.get(0x920A) is not None else None
    metadata["gps"] = _gps(exif.get_ifd(0x8825))
    return metadata


# --- Pixels -----------------------------------------------------------------------


def _to_srgb(image: Image.Image) -> Image.Image:
    """8-bit RGB or RGBA in sRGB, whatever came in (CMYK, 16-bit, palette, ICC profiles)."""
    icc = image.info.get("icc_profile")
    if image.mode.startswith("I;16") or image.mode == "I":
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "PA"):
        image = image.convert("RGBA")
    if icc and image.mode in ("RGB", "RGBA", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            target_mode = "RGBA" if image.mode == "RGBA" else "RGB"
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode=target_mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile is ignored: the pixels are still usable
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
    return image


def _fit_size(size: tuple[int, int], side: int) -> tuple[int, int]:
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _lanczos_taps(scale: float) -> np.ndarray:
    """Lanczos-3 widened `scale` times, on whole-pixel offsets: the low-pass for a 1/scale resize."""
    radius = max(1, math.ceil(3 * scale) - 1)  # the kernel is zero from 3 × scale on
    offsets = np.arange(-radius, radius + 1) / scale
    weights = np.sinc(offsets) * np.sinc(offsets / 3)
    return (weights / weights.sum()).astype(np.float32)


_NO_FILTER = np.ones(1, dtype=np.float32)
# The Lanczos filter's taps grow with the shrink factor and it runs at the input's resolution,
# so along an axis its cost grows with the factor squared, in C code that a task's soft time
# limit cannot interrupt (a very long, thin strip would run for seconds). An axis shrunk
# 2 × PRESHRINK_GAP times or more is first averaged over boxes of a whole number of pixels
# (INTER_AREA, linear in the input), leaving Lanczos a factor between PRESHRINK_GAP and twice
# that (Pillow's `reducing_gap`). Whole-pixel boxes have their zeros at the new sampling
# frequency, so little folds back into the band Lanczos keeps; a smaller gap, or boxes of
# fractional width, alias more. The cascade's own steps (4× at most), and any picture within
# the pixel limit up to 3:1, are shrunk less than 8× and never box-averaged.
PRESHRINK_GAP = 4


def _preshrink(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`pixels` box-averaged along each axis that `size` shrinks 2 × PRESHRINK_GAP times or more."""
    height, width = pixels.shape[:2]

    def reduced(length: int, wanted: int) -> int:
        box = length // (wanted * PRESHRINK_GAP)
        return math.ceil(length / box) if box >= 2 else length

    target = (reduced(width, size[0]), reduced(height, size[1]))
    if target == (width, height):
        return pixels
    return cv2.resize(pixels, target, interpolation=cv2.INTER_AREA)


def _downscale(pixels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The H×W×C uint8 `pixels` shrunk to `size` (width, height), Lanczos-3 antialiased.

    Pillow's resize works its stretched kernel out at every output pixel; here the kernel
    runs as one separable OpenCV filter at the input's resolution and a bicubic lookup picks
    the output pixels from the band-limited result, several times faster and as close to a
    full-size Lanczos resize. OpenCV's INTER_AREA or INTER_LINEAR alone would be faster still
    but blur text and leave moiré (tests/files/processing/test_images.py). Large shrinks are
    box-averaged first (`_preshrink`), which bounds the filter's work.
    """
    pixels = _preshrink(pixels, size)
    height, width = pixels.shape[:2]
    across = _lanczos_taps(width / size[0]) if width > size[0] else _NO_FILTER
    down = _lanczos_taps(height / size[1]) if height > size[1] else _NO_FILTER
    blurred = cv2.sepFilter2D(pixels, -1, across, down, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(blurred, size, interpolation=cv2.INTER_CUBIC)


class _Frame:
    """One step of the cascade: the picture, and its pixels as an array for the next resize."""

    def __init__(self, image: Image.Image, pixels: np.ndarray | None = None) -> None:
        self.image = image
        self._pixels = pixels

    def pixels(self) -> np.ndarray:
        if self._pixels is None:
            width, height = self.image.size
            if self.image.mode == "RGBA":
                # Premultiplied, as Pillow resizes RGBA: no dark fringes where the alpha drops.
                raw = self.image.convert("RGBa").tobytes()
                self._pixels = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
            else:
                # Pillow keeps RGB as 4 bytes a pixel: copying them out as RGBX is a plain
                # memcpy, where tobytes() as RGB repacks every pixel.
                raw = self.image.tobytes("raw", "RGBX")
                rgbx = np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 4)
                self._pixels = cv2.cvtColor(rgbx, cv2.COLOR_RGBA2RGB)
        return self._pixels

    def fit(self, side: int) -> _Frame:
        size = _fit_size(self.image.size, side)
        if size == self.image.size:
            return self
        pixels = _downscale(self.pixels(), size)
        if self.image.mode == "RGBA":
            image = Image.frombytes("RGBa", size, pixels.tobytes()).convert("RGBA")
        else:
            image = Image.fromarray(pixels)
        return _Frame(image, pixels)


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    if fmt == "webp":
        image.save(out, "WEBP", **WEBP_OPTIONS)
    else:
        if image.mode == "RGBA":  # JPEG has no alpha: flatten onto white
            flat = Image.new("RGB", image.size, (255, 255, 255))
            flat.paste(image, mask=image.getchannel("A"))
            image = flat
        image.save(out, "JPEG", **JPEG_OPTIONS)
    return out.getvalue()


class _Stopwatch:
    """Accumulates milliseconds per stage, for the file's metadata and the benchmark."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.ms[name] = round(self.ms.get(name, 0.0) + (time.perf_counter() - started) * 1000, 2)


def _encode_timed(image: Image.Image, fmt: str, watch: _Stopwatch) -> bytes:
    with watch.stage(f"encode_{fmt}"):
        return _encode(image, fmt)


def _cascade(frame: _Frame, result: ImageResult, watch: _Stopwatch, formats=FORMATS) -> Image.Image:
    """large → medium → thumbnail, each resized from the previous, in each format; returns the large picture."""
    large = None
    for kind, side in SIZES.items():
        with watch.stage("resize"):
            frame = frame.fit(side)
        current = frame.image
        if kind == "large":
            large = current
        for fmt in formats:
            result.renditions.append(RenditionImage(kind, fmt, _encode_timed(current, fmt, watch), *current.size))
        if kind == "medium":
            result.preview = current if current.mode == "RGB" else current.convert("RGB")
    return large


def process_image(
    path: str, *, original_size: int, limits: Limits, formats: tuple[str, ...] = FORMATS, optimize: bool = True
) -> ImageResult:
    """Metadata and renditions of the image at `path` (first frame of animations).

    `formats` and `optimize` narrow the work (the benchmark compares like with like).
    """
    watch = _Stopwatch()
    image, metadata, full_size = _decode(path, limits, watch)
    want_optimized = optimize and original_size >= OPTIMIZE_MIN_BYTES and max(full_size) > SIZES["large"]
    with watch.stage("colour"):
        base = _to_srgb(image)
        orientation = metadata.get("orientation", 1)
        if orientation and orientation != 1:
            base = _transpose(base, orientation)

    result = ImageResult(metadata=metadata, timings=watch.ms)
    frame = _Frame(base)
    # After a reduced JPEG decode the optimized copy could only have the size that decode
    # happened to give, unless that holds the full 2560 px (24 MP and up); below that (a
    # 12 MP photo decodes at 2000 px) encoding a copy of its own would cost about as much as
    # encoding all its other renditions. There the large WebP is also the optimized copy (the
    # same 1600 px picture, stored under both kinds, encoded once). A photo decoded at full
    # size still gets its own copy at up to 2560 px.
    reduced = image.size != full_size
    separate_optimized = want_optimized and (max(base.size) >= OPTIMIZED_SIDE or not reduced)
    if separate_optimized:
        with watch.stage("resize"):
            frame = frame.fit(OPTIMIZED_SIDE)
        _add_optimized(result, frame.image, _encode_timed(frame.image, "webp", watch), original_size)
    large = result.large = _cascade(frame, result, watch, formats)
    if want_optimized and not separate_optimized:
        webp = next((r.data for r in result.renditions if (r.kind, r.format) == ("large", "webp")), None)
        _add_optimized(result, large, webp or _encode_timed(large, "webp", watch), original_size)
    with watch.stage("fingerprint"):
        result.fingerprint = _fingerprint(image, result.preview, metadata, original_size)
    return result


def _fingerprint(image: Image.Image, picture: Image.Image, metadata: dict, size: int) -> Fingerprint:
    """`picture` (oriented, ≤ 800 px) fingerprinted, with what `image` (as opened) says of the file."""
    return fingerprint(
        picture,
        width=metadata["width"],
        height=metadata["height"],
        format=image.format or "",
        quality=jpeg_quality(image),
        has_exif=bool(image.getexif()),
        size=size,
    )


# A fingerprint needs 32×32 pixels: the decode for one alone stops at this long side.
FINGERPRINT_DECODE_SIDE = 256


def image_fingerprint(path: str, *, original_size: int, limits: Limits) -> Fingerprint:
    """The fingerprint of the image at `path` alone, from a decode as small as the format
    allows (for images processed before fingerprints were taken)."""
    image = _open(path, limits)
    metadata = image_metadata(image)
    try:
        if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
            image.draft(image.mode, (FINGERPRINT_DECODE_SIDE, FINGERPRINT_DECODE_SIDE))
        image.seek(0)
        image.load()
    except Image.DecompressionBombError:
        raise ProcessingError("image_too_large", "The image has more pixels than the limit allows.") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ProcessingError("corrupt_image", f"The image is damaged and cannot be decoded ({exc}).") from None
    picture = _to_srgb(image)
    picture = _transpose(picture, metadata.get("orientation", 1) or 1)
    if max(picture.size) > FINGERPRINT_DECODE_SIDE * 2:
        picture = picture.reduce(max(1, max(picture.size) // FINGERPRINT_DECODE_SIDE))
    return _fingerprint(image, picture.convert("RGB"), metadata, original_size)


def _decode(path: str, limits: Limits, watch: _Stopwatch) -> tuple[Image.Image, dict, tuple[int, int]]:
    """The image at `path` decoded, its metadata, and its full size (a JPEG may decode smaller)."""
    with watch.stage("open"):
        image = _open(path, limits)
    try:
        with watch.stage("metadata"):
            metadata = image_metadata(image)
        with watch.stage("decode"):
            full_size = image.size
            if image.format == "JPEG" and image.mode in ("RGB", "L", "CMYK"):
                # Decode at the smallest 1/2^n scale that still covers the largest rendition.
                # The box must have the photo's own aspect: a square box would keep a 4:3
                # photo's short side too big to allow any reduction. The box is the large
                # rendition's, not the optimized copy's: decoding in full for that copy would
                # cost several times the reduced decode.
                image.draft(image.mode, _fit_size(image.size, SIZES["large"]))
            image.seek(0)
            image.load()
    except Image.DecompressionBombError:
        raise ProcessingError("image_too_large", "The image has more pixels than the limit allows.") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ProcessingError("corrupt_image", f"The image is damaged and cannot be decoded ({exc}).") from None
    return image, metadata, full_size


def _add_optimized(result: ImageResult, image: Image.Image, data: bytes, original_size: int) -> None:
    if len(data) < original_size:
        result.renditions.append(RenditionImage("optimized", "webp", data, *image.size))
        result.optimized_saving_bytes = original_size - len(data)


def _transpose(image: Image.Image, orientation: int) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation)
    return image.transpose(method) if method else image


def renditions_from_picture(picture: Image.Image) -> ImageResult:
    """Renditions of an already-rendered picture (a PDF's first page)."""
    watch = _Stopwatch()
    result = ImageResult(metadata={}, timings=watch.ms)
    _cascade(_Frame(_to_srgb(picture)), result, watch)
    return result
