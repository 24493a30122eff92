"""The pack's own format: safetensors weights + JSON config in the header metadata.

Loading it needs no pickle at all, and it is the target of every conversion.
"""
from __future__ import annotations

import json

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError, UnsupportedCheckpointError
from ..generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from ..generators.progan import ProGANConfig, ProGANGenerator
from ..generators.stylemapgan import StyleMapGANConfig, StyleMapGANGenerator
from .common import build_generator
from .progan import generator_from_progan

FORMAT_TAG = "gan-local-edit-generator"
FORMAT_VERSION = "1"
ARCHITECTURES = {"stylegan2": (StyleGAN2Config, StyleGAN2Generator, "StyleGAN2"),
                 "stylemapgan": (StyleMapGANConfig, StyleMapGANGenerator, "StyleMapGAN"),
                 "progan": (ProGANConfig, ProGANGenerator, "Progressive GAN")}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def save_generator(g, path: str, dtype: str = "float32", metadata: dict | None = None) -> str:
    """Write ``g`` as safetensors; ``metadata`` (str -> JSON-able) is stored as provenance."""
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
    tensors = {k: v.detach().to("cpu", DTYPES[dtype]).contiguous() for k, v in g.state_dict().items()}
    meta = {"format": FORMAT_TAG, "format_version": FORMAT_VERSION, "architecture": g.architecture,
            "config": json.dumps(g.config(), sort_keys=True),
            "source_format": getattr(g, "source_format", "unknown")}
    for k, v in (metadata or {}).items():
        meta[f"user.{k}"] = v if isinstance(v, str) else json.dumps(v)
    save_file(tensors, path, metadata=meta)
    return path


def read_metadata(path: str) -> dict:
    with safe_open(path, framework="pt") as f:
        return dict(f.metadata() or {})


def read_tagged(path: str, tag: str, version: str, foreign: str, what: str = "safetensors file"):
    """(metadata, tensors) of a safetensors file this pack wrote with ``tag``.

    Foreign, newer and corrupt files each get a one-line error (``foreign`` is the message for
    a safetensors file without our tag), never a traceback from inside safetensors.
    """
    try:
        with safe_open(path, framework="pt") as f:
            meta = dict(f.metadata() or {})
            if meta.get("format") != tag:
                raise CheckpointError(foreign)
            if meta.get("format_version") != version:
                raise UnsupportedCheckpointError(f"the {what} has format version {meta.get('format_version')!r}; "
                                                 f"this pack reads version {version}")
            return meta, {k: f.get_tensor(k) for k in f.keys()}
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(f"the {what} is truncated or corrupt ({str(e)[:120]})") from None


def load_native(path: str):
    meta, state = read_tagged(path, FORMAT_TAG, FORMAT_VERSION,
                              "it is a safetensors file without GAN Local Edit metadata (not a generator saved by "
                              "this pack; diffusion or other model weights cannot be used here)")
    arch = meta.get("architecture")
    if arch not in ARCHITECTURES:
        raise UnsupportedCheckpointError(f"its architecture {arch!r} is not one of {sorted(ARCHITECTURES)}")
    cfg_cls, gen_cls, what = ARCHITECTURES[arch]
    try:
        cfg = cfg_cls.from_json_dict(json.loads(meta["config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"its config metadata is invalid ({e})") from None
    source = meta.get("source_format", "native")
    if arch == "progan":
        g = generator_from_progan(state)
        if g.config() != cfg.to_json_dict():
            raise CheckpointError("its ProGAN config metadata does not match its weight shapes")
        g.source_format = source
    else:
        g = build_generator(gen_cls, cfg, state, source, what)
    if hasattr(g, "estimate_stylemap_avg"):
        g.estimate_stylemap_avg()
    g.metadata = {k[5:]: v for k, v in meta.items() if k.startswith("user.")}
    return g
