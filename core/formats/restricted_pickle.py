"""A pickle reader that turns NVIDIA network pickles into plain data without running code.

NVIDIA's StyleGAN pickles embed the Python source of their network classes and execute
it on load (``torch_utils.persistence`` for the PyTorch releases, ``Network.__setstate__``
for the TensorFlow ones). This reader maps the handful of globals such files legitimately
reference to inert stand-ins and refuses every other global, naming it. No embedded
source is ever compiled or executed, and nothing outside the allow-list is imported.
"""
from __future__ import annotations

import collections
import io
import pickle

import numpy as np
import torch

from ..errors import UnsafeCheckpointError


class PersistentObject:
    """Stand-in for an object of an NVIDIA ``@persistent_class``: its class name and state.

    The embedded ``module_src`` is dropped unread.
    """

    def __init__(self, class_name: str, state: dict, version=None):
        self.class_name = class_name
        self.state = state if isinstance(state, dict) else {}
        self.version = version

    def child(self, name: str):
        mods = self.state.get("_modules") or {}
        return mods.get(name)

    def children(self) -> dict:
        return dict(self.state.get("_modules") or {})

    def attr(self, name, default=None):
        return self.state.get(name, default)

    def __repr__(self):
        return f"<persistent {self.class_name}>"


class TFNetworkStub:
    """Stand-in for ``dnnlib.tflib.network.Network``: keeps the pickled state dict only.

    The real class executes ``build_module_src`` in ``__setstate__``; this one never does.
    """

    def __setstate__(self, state):
        self.state = dict(state) if isinstance(state, dict) else {}

    def __repr__(self):
        return f"<TF network {self.state.get('name')!r}>"


class EasyDictStub(dict):
    """``dnnlib.util.EasyDict`` is a dict with attribute access; as data a dict suffices."""


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise UnsafeCheckpointError("a persistent object in the pickle is not of the known 'class' kind")
    return PersistentObject(meta["class_name"], meta.get("state"), meta.get("version"))


def _load_storage_bytes(blob: bytes):
    # torch's own helper calls torch.load(weights_only=False); this one keeps torch's
    # restricted loader on, so a crafted blob cannot smuggle code in either.
    return torch.load(io.BytesIO(blob), weights_only=True, map_location="cpu")


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                       metadata=None):
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False,
                                           collections.OrderedDict())


def _safe_dtype(*args):
    d = np.dtype(*args)
    if d.hasobject:
        raise UnsafeCheckpointError("the pickle holds a numpy array of Python objects")
    return d


def _safe_scalar(dtype, data=None):
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise UnsafeCheckpointError("the pickle holds a numpy scalar of Python objects")
    return np.frombuffer(data, dtype=dtype, count=1)[0] if data is not None else dtype.type()


def _safe_reconstruct(cls, shape, dtype_code):
    if cls is not np.ndarray:
        raise UnsafeCheckpointError("numpy reconstruction of a type other than ndarray")
    return np.ndarray.__new__(np.ndarray, shape, dtype_code)


def _codecs_encode(text, encoding="utf-8"):
    return text.encode(encoding)


_TORCH_DTYPES = {name: getattr(torch, name) for name in
                 ("float32", "float16", "bfloat16", "float64", "int64", "int32", "uint8", "int8", "bool")}

ALLOWED_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_bytes,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): _codecs_encode,
    ("dnnlib.util", "EasyDict"): EasyDictStub,
    ("dnnlib", "EasyDict"): EasyDictStub,
    ("dnnlib.tflib.network", "Network"): TFNetworkStub,
    ("numpy", "dtype"): _safe_dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "scalar"): _safe_scalar,
    ("numpy._core.multiarray", "scalar"): _safe_scalar,
    ("numpy.core.multiarray", "_reconstruct"): _safe_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _safe_reconstruct,
    **{("torch", name): value for name, value in _TORCH_DTYPES.items()},
}


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose only reachable globals are ``ALLOWED_GLOBALS``."""

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise UnsafeCheckpointError(
                f"it references the Python global '{module}.{name}', which is not on the allow-list "
                f"of things a network pickle may contain, so it was not loaded") from None

    def persistent_load(self, pid):
        raise UnsafeCheckpointError("it uses pickle persistent ids, which network pickles never do")


def restricted_load(data: bytes):
    """Unpickle ``data`` with the allow-list; returns plain dicts, tensors and stubs."""
    return RestrictedUnpickler(io.BytesIO(data)).load()
