"""The templates' example images (workflows/input/gle_*.png): where runs find them, and their
copy into ComfyUI's input folder so a template dragged into a fresh ComfyUI runs with no manual step.

Standard library only (used by the stdlib-only server client too). The ``gle_`` prefix keeps
them apart from a user's own images; a file already in the input folder is never replaced.
"""
from __future__ import annotations

import os
import shutil

EXAMPLE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflows", "input")
PREFIX = "gle_"


def example_names() -> list[str]:
    if not os.path.isdir(EXAMPLE_DIR):
        return []
    return sorted(f for f in os.listdir(EXAMPLE_DIR) if f.startswith(PREFIX) and f.lower().endswith(".png"))


def find_input(name: str, input_dir: str | None) -> str | None:
    """The file a LoadImage named ``name`` reads: the input folder's own, else the pack's example."""
    if input_dir:
        path = os.path.join(input_dir, name)
        if os.path.isfile(path):
            return path
    if name in example_names():
        return os.path.join(EXAMPLE_DIR, name)
    return None


def install_examples(dest: str) -> list[str]:
    """Copy each example image absent from ``dest`` into it; returns the names copied."""
    os.makedirs(dest, exist_ok=True)
    copied = []
    for name in example_names():
        target = os.path.join(dest, name)
        try:  # exclusive create: a file that appeared meanwhile is left alone
            with open(os.path.join(EXAMPLE_DIR, name), "rb") as src, open(target, "xb") as out:
                shutil.copyfileobj(src, out)
        except FileExistsError:
            continue
        copied.append(name)
    return copied
