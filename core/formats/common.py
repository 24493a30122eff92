"""Helpers shared by the checkpoint readers."""
from __future__ import annotations

import torch

from ..errors import CheckpointError
from ..generators.fir import make_filter
from ..generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator


def filter_taps(f2d: torch.Tensor):
    """Store the standard [1,3,3,1] filter by its taps, anything else as a 2-D list."""
    for taps in ([1, 3, 3, 1], [1, 2, 1], [1, 1]):
        ref = make_filter(taps)
        if ref.shape == f2d.shape and torch.allclose(ref, f2d.float(), atol=1e-7, rtol=0):
            return taps
    return f2d.float().tolist()


def build_stylegan2(cfg: StyleGAN2Config, state: dict, source: str) -> StyleGAN2Generator:
    """Instantiate and fill a StyleGAN2, failing with the exact missing/unexpected names."""
    return build_generator(StyleGAN2Generator, cfg, state, source, "StyleGAN2")


def build_generator(cls, cfg, state: dict, source: str, what: str):
    """Instantiate ``cls(cfg)`` and fill it, failing with the exact missing/unexpected names."""
    try:
        g = cls(cfg)
    except ValueError as e:
        raise CheckpointError(f"its configuration is not a valid {what}: {e}") from None
    own = g.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise CheckpointError(f"its weights do not match a {what} of that configuration "
                              f"(missing {missing[:4]}{'...' if len(missing) > 4 else ''}, "
                              f"unexpected {extra[:4]}{'...' if len(extra) > 4 else ''})")
    for k, v in state.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise CheckpointError(f"tensor {k} has shape {list(v.shape)}, expected {list(own[k].shape)}")
    g.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    g.source_format = source
    return g.eval().requires_grad_(False)

