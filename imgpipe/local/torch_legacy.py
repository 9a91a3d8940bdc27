"""Read a legacy (pre-1.6, non-zip) PyTorch ``state_dict`` file into numpy arrays, without torch.

The format is a sequence of pickles: a magic number, the protocol version, system info, the
``state_dict`` itself (tensors reference storages by persistent id), the list of storage keys,
then for each storage its element count (int64 LE) and raw little-endian data.

Unpickling is **restricted**: only ``collections.OrderedDict``, the tensor-rebuild function and
the storage type names are resolved, so a tampered file cannot run code.
"""

from __future__ import annotations

import collections
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from imgpipe.local.errors import ModelLoadError

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001

_STORAGE_DTYPES: dict[str, Any] = {
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


@dataclass(frozen=True, slots=True)
class _StorageRef:
    key: str
    dtype: Any
    numel: int


@dataclass(frozen=True, slots=True)
class _TensorRef:
    storage: _StorageRef
    offset: int
    size: tuple[int, ...]
    stride: tuple[int, ...]


def _rebuild_tensor(
    storage: _StorageRef, offset: int, size: tuple[int, ...], stride: tuple[int, ...], *_: Any
) -> _TensorRef:
    return _TensorRef(storage, int(offset), tuple(size), tuple(stride))


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return name
        raise pickle.UnpicklingError(f"forbidden global in model file: {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id: {pid!r}")
        _, storage_type, key, _location, numel, *_ = pid
        if storage_type not in _STORAGE_DTYPES:
            raise pickle.UnpicklingError(f"unknown storage type {storage_type!r}")
        return _StorageRef(str(key), _STORAGE_DTYPES[storage_type], int(numel))


def _load_plain(fh: IO[bytes]) -> Any:
    return _RestrictedUnpickler(fh).load()


def load_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Load a legacy torch ``state_dict`` as ``{name: ndarray}``."""
    try:
        with open(path, "rb") as fh:
            if _load_plain(fh) != MAGIC_NUMBER:
                raise ModelLoadError(f"{path}: not a legacy torch file (bad magic number)")
            if _load_plain(fh) != PROTOCOL_VERSION:
                raise ModelLoadError(f"{path}: unsupported torch protocol version")
            _load_plain(fh)  # system info
            state = _load_plain(fh)
            keys = _load_plain(fh)
            refs = {
                ref.storage.key: ref.storage
                for ref in state.values()
                if isinstance(ref, _TensorRef)
            }
            data: dict[str, np.ndarray] = {}
            for key in keys:
                storage = refs.get(key)
                if storage is None:
                    raise ModelLoadError(f"{path}: storage {key} is used by no tensor")
                (numel,) = struct.unpack("<q", fh.read(8))
                dtype = np.dtype(storage.dtype).newbyteorder("<")
                raw = fh.read(numel * dtype.itemsize)
                if len(raw) != numel * dtype.itemsize:
                    raise ModelLoadError(f"{path}: storage {key} is truncated")
                data[key] = np.frombuffer(raw, dtype=dtype)
    except (OSError, pickle.UnpicklingError, EOFError, struct.error) as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc}") from exc

    out: dict[str, np.ndarray] = {}
    for name, ref in state.items():
        if not isinstance(ref, _TensorRef):
            continue
        flat = data[ref.storage.key]
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[ref.offset :],
            shape=ref.size,
            strides=tuple(s * item for s in ref.stride),
        )
        out[name] = np.array(view, dtype=flat.dtype.newbyteorder("="))
    return out
