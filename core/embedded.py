"""Files that ship inside the pack, listed first by the loader nodes as 'embedded: <name>'."""
from __future__ import annotations

import os

PACK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED_DIR = os.path.join(PACK_ROOT, "models", "embedded")
EMBEDDED = {
    "generator": {"faces64": "faces64.safetensors", "faces64_stylemap": "faces64_stylemap.safetensors"},
    "catalog": {"faces64_k64": "faces64_catalog_k64.safetensors"},
    # LELSD directions learned from the k64 catalog's labels (scripts/eval_lelsd.py --save-embedded)
    "directions": {f"faces64_{part}": f"faces64_dir_{part}.safetensors" for part in ("eyes", "mouth", "nose")},
}
PREFIX = "embedded: "
DEFAULT_CATALOG = "faces64_k64"


def embedded_files(kind: str = "generator") -> dict[str, str]:
    """name -> path of each shipped file of ``kind`` that is present."""
    out = {}
    for name, fname in EMBEDDED[kind].items():
        path = os.path.join(EMBEDDED_DIR, fname)
        if os.path.exists(path):
            out[name] = path
    return out


def embedded_choice_names(kind: str = "generator") -> list[str]:
    return [PREFIX + n for n in embedded_files(kind)]


def resolve_embedded(choice: str, kind: str = "generator") -> str | None:
    """'embedded: faces64' -> its path; None for anything else."""
    if not choice.startswith(PREFIX):
        return None
    name = choice[len(PREFIX):]
    files = embedded_files(kind)
    if name not in files:
        raise FileNotFoundError(f"embedded {kind} {name!r} is not in this installation ({EMBEDDED_DIR})")
    return files[name]


def load_embedded_generator(name: str = "faces64", device=None):
    """The shipped generator ``name`` (see EMBEDDED)."""
    from .formats.loader import load_generator
    return load_generator(resolve_embedded(PREFIX + name, "generator"), device=device)


def load_embedded_catalog(generator, name: str = DEFAULT_CATALOG):
    """The shipped catalog ``name``, checked against ``generator``."""
    from .io import load_catalog
    return load_catalog(resolve_embedded(PREFIX + name, "catalog"), generator)
