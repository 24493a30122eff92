"""A small cache of loaded files (generators, feature networks), so graphs that use the same
file again pay once."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .loader import load_generator, resolve_device

_CACHE: "OrderedDict[tuple, object]" = OrderedDict()
_LOCK = threading.Lock()
MAX_ENTRIES = 3


def load_cached(loader, path: str, device=None):
    """``loader(path, device)``, reused while the file is unchanged (keyed by loader, file, device).

    Callers must treat the result as read-only (operations that adapt weights copy first).
    """
    st = os.stat(path)
    key = (loader.__module__, loader.__qualname__, os.path.realpath(path), st.st_mtime_ns, st.st_size,
           str(resolve_device(device)))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    obj = loader(path, device)
    with _LOCK:
        _CACHE[key] = obj
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return obj


def load_generator_cached(path: str, device=None):
    """Like ``load_generator``; reuses the object while the file is unchanged."""
    return load_cached(load_generator, path, device)


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
