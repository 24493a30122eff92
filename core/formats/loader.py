"""``load_generator``: recognise a checkpoint by its bytes and hand it to the right reader.

The file extension is never trusted: users rename files, and a ``.pt`` may be a zip,
a legacy torch container or a plain pickle. Every failure becomes one readable line:
``cannot load 'x.pkl': <what it is> - <why>``.
"""
from __future__ import annotations

import os
import pickle
import struct

import torch

from ..errors import CheckpointError, GLEError
from .native import load_native, save_generator
from .nvidia import generator_from_nvidia
from .progan import generator_from_progan, looks_like_progan, unwrap
from .restricted_pickle import TFNetworkStub, restricted_load
from .rosinality import generator_from_rosinality, looks_like_rosinality
from .stylemapgan import generator_from_stylemapgan, looks_like_stylemapgan
from .tf_legacy import generator_from_tf
from .torch_files import safe_torch_load

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# A pre-1.6 torch.save file starts with the pickled magic number (protocol 2, LONG1).
TORCH_LEGACY_HEADER = pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2)[:-1]

_FOREIGN_SIGNATURES = [
    (b"version https://git-lfs", "a Git LFS pointer (the real file was never downloaded)"),
    (b"<!DOCTYPE", "an HTML page (probably a failed download)"),
    (b"<html", "an HTML page (probably a failed download)"),
    (b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (b"GGUF", "a GGUF language-model file"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89HDF", "an HDF5 (Keras) file"),
    (b"{", "a JSON/text file"),
]


def sniff_format(path: str) -> str:
    """One of 'safetensors', 'torch-zip', 'torch-legacy', 'pickle', 'empty' or 'unknown: <description>'."""
    size = os.path.getsize(path)
    if size == 0:
        return "empty"
    with open(path, "rb") as f:
        head = f.read(64)
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= size - 8 and head[8:9] == b"{":
            return "safetensors"
    if head[:4] == b"PK\x03\x04":
        return "torch-zip"
    if head.startswith(TORCH_LEGACY_HEADER):
        return "torch-legacy"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    for sig, what in _FOREIGN_SIGNATURES:
        if head.startswith(sig):
            return f"unknown: {what}"
    return "unknown: not a checkpoint format this pack knows (no safetensors, zip or pickle header)"


def resolve_device(device=None) -> torch.device:
    """None/'auto' -> CUDA when available, else CPU; anything else as torch understands it."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GLEError("device 'cuda' was requested but no CUDA GPU is available; use 'cpu' or 'auto'")
    return dev


def load_generator(path, device=None):
    """Load any supported generator checkpoint; see README 'Supported formats'."""
    path = os.fspath(path)
    name = os.path.basename(path)
    if not os.path.exists(path):
        raise CheckpointError(f"cannot load {name!r}: no such file ({path})")
    if os.path.isdir(path):
        raise CheckpointError(f"cannot load {name!r}: it is a folder, not a checkpoint file")
    kind = sniff_format(path)
    try:
        # ComfyUI runs nodes under torch.inference_mode(); weights made there could never take
        # part in autograd (inversion, pivotal tuning), so they are always made outside it.
        with torch.inference_mode(False):
            g = _load_by_kind(path, kind)
    except CheckpointError as e:
        raise type(e)(f"cannot load {name!r}: {_describe(kind)} - {e}") from None
    except MemoryError:
        raise CheckpointError(f"cannot load {name!r}: not enough memory to read it") from None
    g.source_path = path
    g.name = os.path.splitext(name)[0]
    with torch.inference_mode(False):
        return g.to(resolve_device(device))


def _describe(kind: str) -> str:
    return {"safetensors": "safetensors file", "torch-zip": "torch zip checkpoint",
            "torch-legacy": "legacy torch checkpoint", "pickle": "pickle file",
            "empty": "empty file"}.get(kind, kind.removeprefix("unknown: "))


def _load_by_kind(path: str, kind: str):
    if kind == "empty":
        raise CheckpointError("the file has zero bytes")
    if kind.startswith("unknown"):
        raise CheckpointError("it is not a generator checkpoint")
    if kind == "safetensors":
        return load_native(path)
    if kind in ("torch-zip", "torch-legacy"):
        return _from_torch_object(safe_torch_load(path))
    with open(path, "rb") as f:
        data = f.read()
    try:
        obj = restricted_load(data)
    except CheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError, struct.error) as e:
        raise CheckpointError(f"the pickle is truncated or corrupt ({type(e).__name__})") from None
    if isinstance(obj, dict) and "G_ema" in obj:
        return generator_from_nvidia(obj["G_ema"])
    if isinstance(obj, tuple) and len(obj) == 3 and all(isinstance(x, TFNetworkStub) for x in obj):
        return generator_from_tf(obj)
    raise CheckpointError(f"it holds {_summarise(obj)}, not an NVIDIA network pickle (no 'G_ema')")


def _from_torch_object(obj):
    if looks_like_rosinality(obj):
        return generator_from_rosinality(obj)
    if looks_like_stylemapgan(obj):
        return generator_from_stylemapgan(obj)
    if isinstance(obj, dict):
        keys = list(obj)
        if looks_like_progan(unwrap(obj)):
            return generator_from_progan(obj)
        raise CheckpointError(f"a dict with keys {keys[:6]} is not a generator layout this pack knows")
    raise CheckpointError(f"it holds {_summarise(obj)}, not a generator state dict")


def _summarise(obj) -> str:
    if isinstance(obj, dict):
        return f"a dict with keys {list(obj)[:6]}"
    return f"a {type(obj).__name__}"


def convert_checkpoint(src, dst, dtype: str = "float32", metadata: dict | None = None) -> str:
    """Convert any readable checkpoint to the pack's safetensors format."""
    g = load_generator(src, device="cpu")
    meta = {"converted_from": os.path.basename(os.fspath(src))}
    meta.update(metadata or {})
    return save_generator(g, os.fspath(dst), dtype=dtype, metadata=meta)
