"""The classifier at run time: the cached ONNX model in onnxruntime, its classes mapped to
portal categories, and faces.

A label is `{"name", "score", "source"}`. Scores are floats rounded to 4 decimals and stored
whatever their size (above a small floor), so display thresholds can change without
relabelling.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime
import onnxruntime.capi.onnxruntime_pybind11_state
from PIL import Image

from files.processing.errors import LabelsUnavailable
from files.processing.labels.builder import INPUT_SIDE, model_path
from files.processing.labels.classes import CATEGORIES, CATEGORY_MATRIX, IMAGENET_CLASSES
from files.processing.labels.faces import face_cascade, face_count
from files.processing.limits import Limits

log = logging.getLogger(__name__)

# What onnxruntime and OpenCV raise when a loaded model or the face detector fails on a
# picture. onnxruntime's errors (Fail, InvalidArgument, RuntimeException, ...) have no common
# base below Exception, so they are collected from the module that defines them.
RUNTIME_ERRORS: tuple[type[Exception], ...] = (
    cv2.error,
    *(
        value
        for value in vars(onnxruntime.capi.onnxruntime_pybind11_state).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ),
)

# Categories are sums of class probabilities; below this they are noise, not a label.
CATEGORY_FLOOR = 0.02
TOP_CLASSES = 5
# Google's EfficientNet evaluation crops the central 224/256 of the short side.
CROP_FRACTION = 224 / 256
# The Lite models were trained on pixels scaled to [-1, 1] (mean = std = 127.5), not on the
# usual ImageNet mean/std; unscaled 0..255 pixels give garbage, which the tests catch.
PIXEL_MEAN = 127.5
PIXEL_STD = 127.5
# One thread per worker process: the workers are the parallelism, and more threads would only
# take the CPU from the other workers.
INTRA_OP_THREADS = 1

_session: onnxruntime.InferenceSession | None = None
_session_lock = threading.Lock()
# When loading last failed (time.monotonic()) and why, so that while the cache stays
# unwritable not every image pays for building the model again.
_load_failure: tuple[float, str] | None = None


def _session_get(limits: Limits) -> onnxruntime.InferenceSession:
    # One session per process: it holds 19 MB of weights, and onnxruntime's run() is
    # thread-safe. The lock only stops two threads building it at the same time.
    global _session, _load_failure
    if _session is None:
        with _session_lock:
            if _session is None:
                retry_after = limits.labels_retry_minutes * 60
                if _load_failure is not None and time.monotonic() - _load_failure[0] < retry_after:
                    raise LabelsUnavailable(_load_failure[1])
                try:
                    _session = _session_load(model_path(limits.model_cache_dir))
                except LabelsUnavailable as exc:
                    # Tried again after a while, so a fixed cache directory needs no worker restart.
                    _load_failure = (time.monotonic(), str(exc))
                    log.warning("labels unavailable: %s; next attempt in %s min", exc, limits.labels_retry_minutes)
                    raise
                _load_failure = None
    return _session


def _session_load(path: Path) -> onnxruntime.InferenceSession:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    # Idle onnxruntime threads otherwise spin after each run, taking the CPU from the face
    # detector that runs next and from the other worker processes.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's errors have no common base class below Exception
        raise LabelsUnavailable(f"onnxruntime cannot load {path}: {exc}") from exc


def warm_up(limits: Limits) -> None:
    """Builds or loads the classifier and the face detector now rather than on the first image.

    Call it in each worker process after the fork: an onnxruntime session does not survive one.
    """
    session = _session_get(limits)
    session.run(None, {"image": np.zeros((1, 3, INPUT_SIDE, INPUT_SIDE), dtype=np.float32)})
    face_cascade()


def _model_input(image: Image.Image) -> np.ndarray:
    """The central crop of the short side, resized to 224², as normalised NCHW floats."""
    width, height = image.size
    side = min(width, height) * CROP_FRACTION
    left, top = (width - side) / 2, (height - side) / 2
    # One resample straight from the crop box, with no intermediate 256-px copy.
    resized = image.resize(
        (INPUT_SIDE, INPUT_SIDE), Image.Resampling.BICUBIC, box=(left, top, left + side, top + side), reducing_gap=3.0
    )
    pixels = (np.asarray(resized, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def _label(name: str, score: float, source: str) -> dict:
    return {"name": name, "score": round(min(float(score), 1.0), 4), "source": source}


def _class_labels(probabilities: np.ndarray) -> list[dict]:
    top = np.argsort(probabilities)[::-1][:TOP_CLASSES]
    return [_label(IMAGENET_CLASSES[index], probabilities[index], "imagenet") for index in top]


def _category_labels(probabilities: np.ndarray) -> list[dict]:
    scores = CATEGORY_MATRIX @ probabilities
    return [
        _label(name, score, "category")
        for name, score in zip(CATEGORIES, scores, strict=True)
        if score >= CATEGORY_FLOOR
    ]


def _face_labels(image: Image.Image) -> list[dict]:
    faces = face_count(image)
    return [_label("person", 0.6 + 0.1 * faces, "faces")] if faces else []


def image_labels(image: Image.Image, limits: Limits) -> list[dict]:
    """Labels for a decoded picture, highest score first; raises LabelsUnavailable without a model."""
    session = _session_get(limits)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    probabilities = session.run(None, {"image": _model_input(rgb)})[0][0]
    labels = _class_labels(probabilities) + _category_labels(probabilities) + _face_labels(rgb)
    labels.sort(key=lambda label: (-label["score"], label["name"]))
    return labels


def document_labels() -> list[dict]:
    """The label every file that is not an image gets."""
    return [{"name": "document", "score": 1.0, "source": "type"}]
