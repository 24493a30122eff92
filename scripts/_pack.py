"""Import this repository as the package ``gan_local_edit`` from scripts, the way ComfyUI does.

The repository root is the custom-node folder, whose name is arbitrary; ComfyUI loads it
with ``spec_from_file_location``, so scripts do the same instead of relying on the name.
"""
from __future__ import annotations

import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE_NAME = "gan_local_edit"


def load_pack(root: str = ROOT, name: str = PACKAGE_NAME):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "__init__.py"),
                                                  submodule_search_locations=[root])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def add_common_args(parser, out: bool = True):
    """--threads (and --out, default docs/) shared by the evaluation and benchmark scripts."""
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    if out:
        parser.add_argument("--out", default=os.path.join(ROOT, "docs"), help="folder for pictures")
    return parser


def apply_common_args(args):
    import torch
    torch.set_num_threads(args.threads)
    if getattr(args, "out", None):
        os.makedirs(args.out, exist_ok=True)
    return args


def add_model_arg(parser):
    """--model: evaluate a candidate generator file instead of the shipped embedded model."""
    parser.add_argument("--model", default=None,
                        help="generator file to evaluate (default: the embedded faces64 model; scripts that draw "
                             "pictures write them to --out)")
    return parser


def load_model(args, device="cpu"):
    load_pack()
    if getattr(args, "model", None):
        from gan_local_edit.core.formats.loader import load_generator
        return load_generator(args.model, device=device)
    from gan_local_edit.core.embedded import load_embedded_generator
    return load_embedded_generator(device=device)


def save_results(name: str, lines: list) -> str:
    """Write an evaluation's printed lines to docs/results/<name> (what the README quotes)."""
    path = os.path.join(ROOT, "docs", "results", name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"saved {path}")
    return path
