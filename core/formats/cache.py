"""A small cache of loaded generators, so graphs that load the same file twice pay once."""
from __future__ import annotations

import os
import threading
from collections import OrderedDict

from .loader import load_generator, resolve_device

_CACHE: "OrderedDict[tuple, object]" = OrderedDict()
_LOCK = threading.Lock()
MAX_ENTRIES = 3


def load_generator_cached(path: str, device=None):
    """Like ``load_generator``; reuses the object while the file is unchanged.

    Callers must treat the result as read-only (operations that adapt weights copy first).
    """
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_mtime_ns, st.st_size, str(resolve_device(device)))
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    g = load_generator(path, device)
    with _LOCK:
        _CACHE[key] = g
        while len(_CACHE) > MAX_ENTRIES:
            _CACHE.popitem(last=False)
    return g


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
