"""The models that ship inside the pack (listed first by the loader node as 'embedded: <name>')."""
from __future__ import annotations

import os

PACK_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMBEDDED_DIR = os.path.join(PACK_ROOT, "models", "embedded")
EMBEDDED_FILES = {"faces64": "faces64.safetensors"}
PREFIX = "embedded: "


def embedded_models() -> dict[str, str]:
    """name -> path of each shipped model that is present."""
    out = {}
    for name, fname in EMBEDDED_FILES.items():
        path = os.path.join(EMBEDDED_DIR, fname)
        if os.path.exists(path):
            out[name] = path
    return out


def embedded_choice_names() -> list[str]:
    return [PREFIX + n for n in embedded_models()]


def resolve_embedded(choice: str) -> str | None:
    """'embedded: faces64' -> its path; None for anything else."""
    if not choice.startswith(PREFIX):
        return None
    name = choice[len(PREFIX):]
    models = embedded_models()
    if name not in models:
        raise FileNotFoundError(f"embedded model {name!r} is not in this installation ({EMBEDDED_DIR})")
    return models[name]
