"""Progressive GAN state dicts of GANPaint / GAN Dissection (``layerN.*`` + ``output_RxR.*``, or the
older ``features.N.*`` + ``output.*`` names). z_dim and every channel count come from the shapes."""
from __future__ import annotations

import re

import torch

from ..errors import CheckpointError
from ..generators.progan import ProGANConfig, ProGANGenerator


def looks_like_progan(sd) -> bool:
    return isinstance(sd, dict) and any(str(k).startswith(("layer1.conv.", "features.0.conv.")) for k in sd)


def unwrap(obj):
    """The state dict inside ``{'state_dict': ...}`` (as some releases wrap it), else ``obj``."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        return obj["state_dict"]
    return obj


def _renamed_old(sd: dict) -> dict:
    """``features.i`` -> ``layer{i+1}``, ``output`` -> ``output_RxR``."""
    out, n = {}, 0
    for k, v in sd.items():
        m = re.match(r"features\.(\d+)\.(.+)$", k)
        if m:
            out[f"layer{int(m.group(1)) + 1}.{m.group(2)}"] = v
            n = max(n, int(m.group(1)) + 1)
        else:
            out[k] = v
    res = 4 * 2 ** ((n - 1) // 2)
    return {(f"output_{res}x{res}." + k[len("output."):] if k.startswith("output.") else k): v for k, v in out.items()}


def generator_from_progan(sd: dict) -> ProGANGenerator:
    sd = {str(k): v for k, v in unwrap(sd).items()}
    if any(k.startswith("features.") for k in sd):
        sd = _renamed_old(sd)
    n = 0
    while f"layer{n + 1}.conv.weight" in sd:
        n += 1
    if n < 2 or n % 2:
        raise CheckpointError(f"it has {n} Progressive GAN layers; a generator has an even number >= 2")
    weights = [sd[f"layer{i + 1}.conv.weight"] for i in range(n)]
    if any(w.ndim != 4 for w in weights):
        raise CheckpointError("its conv weights are not 4-D")
    cfg = ProGANConfig(z_dim=int(weights[0].shape[1]), channels=[int(w.shape[0]) for w in weights])
    g = ProGANGenerator(cfg)
    own = g.state_dict()
    missing, extra = sorted(set(own) - set(sd)), sorted(set(sd) - set(own))
    if missing or extra:
        raise CheckpointError(f"its weights do not match a Progressive GAN of that size "
                              f"(missing {missing[:4]}, unexpected {extra[:4]})")
    for k, t in own.items():
        if tuple(sd[k].shape) != tuple(t.shape):
            raise CheckpointError(f"tensor {k} has shape {list(sd[k].shape)}, expected {list(t.shape)}")
    g.load_state_dict({k: v.to(torch.float32) for k, v in sd.items()})
    g.source_format = "progan"
    return g.eval().requires_grad_(False)
