"""The files of an exported policy folder (``jaxpg export``, read back by ``jaxpg.load``).

``params.safetensors`` holds the policy's variables, flattened with dotted names
(``params.Dense_0.kernel``); ``jaxpg.json`` (``MANIFEST``) holds the run's settings.

The safetensors file is written and read here without the ``safetensors`` package (the format
is an 8-byte little-endian header length, a JSON header of names, dtypes, shapes and byte
offsets, then the raw little-endian arrays); the tests read it back with the real package.

``jaxpg.export`` writes the folder and ``jaxpg.agent`` reads it: both import from here, so
neither imports the other for the format.
"""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from jaxpg.checkpoint import CheckpointError
from jaxpg.fileio import atomic_write

__all__ = ["MANIFEST", "flatten", "unflatten", "save_safetensors", "load_safetensors", "SETTINGS_KEY",
           "canonical_json", "sha256_file", "check_folder"]

MANIFEST = "jaxpg.json"
SETTINGS_KEY = "jaxpg_settings"  # params.safetensors metadata: the manifest it was exported with


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_folder(folder: Path, manifest: dict, metadata: dict[str, str]) -> None:
    """Refuses an export folder whose ``params.safetensors`` differs from the hash ``jaxpg.json``
    records, or whose ``jaxpg.json`` settings differ from those saved inside the tensor file
    (folders exported before the hashes are taken as they are)."""
    files = manifest.get("files")
    if not isinstance(files, dict):
        return
    path = folder / "params.safetensors"
    if sha256_file(path) != files.get("params.safetensors"):
        raise CheckpointError(f"{path} does not match the SHA-256 recorded in {MANIFEST} (corrupted or replaced)")
    saved = metadata.get(SETTINGS_KEY)
    mine = {k: v for k, v in manifest.items() if k != "files"}
    if saved is not None and canonical_json(json.loads(saved)) != canonical_json(mine):
        raise CheckpointError(f"{folder / MANIFEST} was edited: its settings differ from those saved in {path.name}")
_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64", np.dtype(np.float16): "F16",
           np.dtype(np.int32): "I32", np.dtype(np.int64): "I64", np.dtype(np.uint32): "U32",
           np.dtype(np.uint8): "U8", np.dtype(np.int8): "I8", np.dtype(np.bool_): "BOOL"}
_NP = {v: k for k, v in _DTYPES.items()}


def flatten(tree: Any, prefix: str = "") -> dict[str, np.ndarray]:
    """Nested dicts of arrays -> ``{"a.b.c": array}``."""
    out: dict[str, np.ndarray] = {}
    for k, v in tree.items():
        if "." in str(k):
            raise ValueError(f"a parameter name contains '.': {k!r}")
        name = f"{prefix}{k}"
        if isinstance(v, dict) or hasattr(v, "items"):
            out.update(flatten(v, name + "."))
        else:
            out[name] = np.asarray(v)
    return out


def unflatten(flat: dict[str, np.ndarray]) -> dict:
    out: dict = {}
    for name, v in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def save_safetensors(arrays: dict[str, np.ndarray], path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Writes ``arrays`` in the safetensors format (atomically)."""
    header: dict[str, Any] = {}
    chunks, offset = [], 0
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        if a.dtype not in _DTYPES:
            raise ValueError(f"{name}: dtype {a.dtype} has no safetensors name")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _DTYPES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    atomic_write(Path(path), struct.pack("<Q", len(text)) + text + b"".join(chunks))


def load_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(arrays, metadata)`` of a safetensors file."""
    data = Path(path).read_bytes()
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not a safetensors file ({e})") from None
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    out = {}
    for name, spec in header.items():
        lo, hi = spec["data_offsets"]
        dt = _NP[spec["dtype"]].newbyteorder("<")
        out[name] = np.frombuffer(body[lo:hi], dtype=dt).reshape(spec["shape"]).astype(dt.newbyteorder("="))
    return out, meta
