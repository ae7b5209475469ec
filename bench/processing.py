"""Image processing throughput: our pipeline against a naive Pillow baseline, on one core.

Makes a 12 MP (4000×3000) and a 24 MP (6000×4000) JPEG at quality 90 from a real corpus
photo (upscaled with LANCZOS plus mild noise, so the JPEG compresses like a camera's, with
the source's EXIF), then times, after one warm-up round:

- ours: `process_image` (renditions in WebP and JPEG, the optimized WebP, metadata)
  followed by `image_labels` on its preview, with the stage split from `.timings`
  (for the 12 MP photo, decoded at 2000 px, the optimized copy is the large WebP; the
  24 MP one, decoded at 3000 px, gets its own 2560 px copy);
- naive: per rendition, open, full decode, `exif_transpose`, RGB, one LANCZOS resize from
  the full image and a JPEG q85 encode (three renditions, one format).

The process is pinned to one CPU and OMP_NUM_THREADS=1 is set before onnxruntime loads.

    .venv/bin/python bench/processing.py [--rounds 8]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Before numpy, cv2 or onnxruntime start any thread pools.
os.environ["OMP_NUM_THREADS"] = "1"
CPU = min(os.sched_getaffinity(0))
os.sched_setaffinity(0, {CPU})

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import median_ms, write_section  # noqa: E402

# The shared corpus sits beside the checkout (../shared/corpus), as for the tests.
CORPUS = Path(os.environ.get("MEDIAPORTAL_CORPUS", ROOT.parent / "shared" / "corpus"))
SOURCE = CORPUS / "large_dimension" / "jolla.jpg"
PHOTOS = {"12 MP": (4000, 3000), "24 MP": (6000, 4000)}
NAIVE_SIZES = (1600, 800, 200)
STAGES = ("open", "metadata", "decode", "colour", "resize", "encode_webp", "encode_jpeg")
# Targets stated by the issue; printed next to the figures, never asserted.
TARGET_SPEEDUP = 3.0
TARGET_12MP_MS = 400.0


def make_photo(target: Path, size: tuple[int, int], seed: int) -> int:
    """A camera-like JPEG q90 of `size` from the corpus photo; returns its byte size."""
    with Image.open(SOURCE) as source:
        exif = source.info.get("exif")
        width, height = source.size
        # Crop to the target's aspect ratio first so the upscale does not stretch.
        ratio = size[0] / size[1]
        crop_w, crop_h = (width, round(width / ratio)) if width / height < ratio else (round(height * ratio), height)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        picture = source.convert("RGB").resize(
            size, Image.Resampling.LANCZOS, box=(left, top, left + crop_w, top + crop_h)
        )
    pixels = np.asarray(picture, dtype=np.int16)
    # Mild sensor-like noise: an upscaled photo is otherwise far too smooth to be realistic.
    noise = np.random.default_rng(seed).integers(-4, 5, size=pixels.shape, dtype=np.int16)
    noisy = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), "RGB")
    options = {"exif": exif} if exif else {}
    noisy.save(target, "JPEG", quality=90, **options)
    return target.stat().st_size


def naive(path: Path) -> int:
    total = 0
    for side in NAIVE_SIZES:
        with Image.open(path) as image:
            image.load()
            picture = ImageOps.exif_transpose(image).convert("RGB")
        scale = side / max(picture.size)
        fitted = picture.resize(
            (max(1, round(picture.width * scale)), max(1, round(picture.height * scale))), Image.Resampling.LANCZOS
        )
        out = io.BytesIO()
        fitted.save(out, "JPEG", quality=85)
        total += out.tell()
    return total


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaportal.settings")
    # Imported here, not at the top: the CPU pinning and OMP_NUM_THREADS above come first, and
    # the app's modules need django.setup().
    import django

    django.setup()
    import cv2
    import onnxruntime

    from files.processing import labels
    from files.processing.images import process_image
    from files.processing.labels.runtime import INTRA_OP_THREADS
    from files.services.processing import processing_limits

    limits = processing_limits()
    labels.warm_up(limits)

    workdir = Path(tempfile.mkdtemp(prefix="mp-bench-processing-"))
    try:
        rows, split_rows, notes = [], [], []
        median_12mp = speedup_12 = speedup_12_jpeg = 0.0
        for n, (name, size) in enumerate(PHOTOS.items()):
            path = workdir / f"photo-{name.replace(' ', '')}.jpg"
            original_size = make_photo(path, size, seed=n)
            print(f"{name}: {size[0]}×{size[1]}, {original_size / 1e6:.1f} MB ({args.rounds} rounds + 1 warm-up)")

            ours, labels_s, naive_s, untimed_s, like_s = [], [], [], [], []
            stage_ms: dict[str, list[float]] = {stage: [] for stage in STAGES}
            renditions = None
            for round_no in range(args.rounds + 1):
                started = time.perf_counter()
                result = process_image(str(path), original_size=original_size, limits=limits)
                processed = time.perf_counter()
                labels.image_labels(result.preview, limits)
                done = time.perf_counter()
                like_started = time.perf_counter()
                process_image(str(path), original_size=original_size, limits=limits, formats=("jpeg",), optimize=False)
                like_done = time.perf_counter()
                naive_started = time.perf_counter()
                naive(path)
                naive_done = time.perf_counter()
                if round_no == 0:
                    renditions = sorted((r.kind, r.format, r.width, r.height) for r in result.renditions)
                    continue
                ours.append(done - started)
                labels_s.append(done - processed)
                # Per round, so it is never negative as a difference of separate medians can be.
                untimed_s.append(processed - started - sum(result.timings.values()) / 1000)
                naive_s.append(naive_done - naive_started)
                like_s.append(like_done - like_started)
                for stage in STAGES:
                    stage_ms[stage].append(result.timings.get(stage, 0.0))

            ours_ms, naive_ms = median_ms(ours), median_ms(naive_s)
            split = {stage: statistics.median(values) for stage, values in stage_ms.items()}
            split["labels"] = median_ms(labels_s)
            # Like for like with the naive way: three JPEG renditions plus metadata, measured.
            jpeg_only_ms = median_ms(like_s)
            untimed = median_ms(untimed_s)
            if name == "12 MP":
                median_12mp, speedup_12, speedup_12_jpeg = ours_ms, naive_ms / ours_ms, naive_ms / jpeg_only_ms
            rows.append(f"| {name} | ours, all | {ours_ms:.0f} | {1000 / ours_ms:.2f} | {naive_ms / ours_ms:.2f}× |")
            rows.append(
                f"| {name} | ours, three renditions + metadata, JPEG only | {jpeg_only_ms:.0f} | "
                f"{1000 / jpeg_only_ms:.2f} | {naive_ms / jpeg_only_ms:.2f}× |"
            )
            rows.append(f"| {name} | naive Pillow | {naive_ms:.0f} | {1000 / naive_ms:.2f} | 1.00× |")
            split_rows.append(
                f"| {name} | "
                + " | ".join(f"{split[stage]:.0f}" for stage in (*STAGES, "labels"))
                + f" | {untimed:.0f} | {ours_ms:.0f} |"
            )
            notes.append(f"{name} renditions: " + ", ".join(f"{k} {f} {w}×{h}" for k, f, w, h in renditions))

        table = "\n".join(
            [
                "## Processing: image pipeline vs naive Pillow",
                "",
                "`bench/processing.py`: a 12 MP (4000×3000) and a 24 MP (6000×4000) JPEG q90 made from",
                "`corpus/large_dimension/jolla.jpg` (LANCZOS upscale plus ±4 noise, source EXIF kept).",
                "*Ours, all* is `process_image` (large/medium/thumbnail in WebP and JPEG, the optimized",
                "WebP ≤ 2560 px, metadata) plus `image_labels` on its preview. The optimized copy is",
                "encoded on its own when the one reduced decode holds 2560 px (the 24 MP photo); below",
                "that (the 12 MP photo, decoded at 2000 px) it is the large WebP. *Naive* makes, per",
                "rendition, a fresh open, full decode, `exif_transpose`, RGB, one LANCZOS resize from",
                "the full image and a JPEG q85 encode (three renditions, JPEG only). *JPEG only* is",
                "`process_image(..., formats=('jpeg',), optimize=False)`: the same work as the naive",
                "way (three renditions and metadata), done our way; it is the like-for-like comparison.",
                f"One core (CPU {CPU}, `OMP_NUM_THREADS=1`); onnxruntime intra-op threads "
                f"{INTRA_OP_THREADS} (set by `files.processing.labels`), OpenCV threads {cv2.getNumThreads()}.",
                f"Medians of {args.rounds} rounds after one warm-up. "
                f"Targets: ≥ {TARGET_SPEEDUP:.0f}× the naive baseline; ≤ {TARGET_12MP_MS:.0f} ms "
                "median per 12 MP photo for everything.",
                "",
                "| photo | pipeline | median ms / photo | photos / s | speed-up vs naive |",
                "|---|---|---|---|---|",
                *rows,
                "",
                "Stage split of ours, all (median ms per stage):",
                "",
                "| photo | " + " | ".join((*STAGES, "labels")) + " | untimed | total |",
                "|---|" + "---|" * (len(STAGES) + 3),
                *split_rows,
                "",
                f"12 MP, everything: **{median_12mp:.0f} ms** (target ≤ {TARGET_12MP_MS:.0f} ms: "
                f"{_met(median_12mp <= TARGET_12MP_MS)}); speed-up over naive at 12 MP: **{speedup_12:.2f}×** "
                f"for all, **{speedup_12_jpeg:.2f}×** for JPEG only (target ≥ {TARGET_SPEEDUP:.0f}×: "
                f"{_met(speedup_12 >= TARGET_SPEEDUP)} / {_met(speedup_12_jpeg >= TARGET_SPEEDUP)}).",
                "",
                *(f"- {note}" for note in notes),
                f"- Pillow {Image.__version__}, onnxruntime {onnxruntime.__version__}, OpenCV {cv2.__version__}.",
            ]
        )
        print()
        print(table)
        write_section("processing", table)
        print("\nwritten to docs/benchmarks.md")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
