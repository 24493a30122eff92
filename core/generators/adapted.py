"""An image-specific generator G' (GANPaint): a base generator whose fine layers' outputs are
multiplied by (1 + delta_l), one delta of the full feature-map shape per layer.

It is a full generator for every node (same latent space, same layer names, same unit tables and
catalogs: it keeps the base model's identity), but its deltas belong to one photo. The base is
shared, never modified.
"""
from __future__ import annotations

import torch
from torch import nn

from ..identity import model_identity
from .base import Generator


def _delta_edits(deltas: dict, edits: dict | None) -> dict:
    """Multiply each adapted layer's output by (1 + delta), then apply the caller's edit there."""
    out = dict(edits or {})
    for name, d in deltas.items():
        user = out.get(name)
        out[name] = (lambda x, d=d: torch.addcmul(x, x, d)) if user is None else \
            (lambda x, d=d, u=user: u(torch.addcmul(x, x, d)))
    return out


class AdaptedGenerator(Generator):
    capabilities = frozenset()

    def __init__(self, base, deltas: dict):
        super().__init__()
        self.base = base
        self.delta_names = list(deltas)
        self.deltas = nn.ParameterDict({n.replace(".", "__"): nn.Parameter(d, requires_grad=False)
                                        for n, d in deltas.items()})
        self.architecture = base.architecture
        self.capabilities = base.capabilities
        for attr in ("z_dim", "w_dim", "num_ws", "resolution", "img_channels", "c_dim"):
            setattr(self, attr, getattr(base, attr, 0))
        self.name = f"{base.name}-adapted"
        self.base_fingerprint = getattr(base, "base_fingerprint", None) or base.fingerprint()
        self.base_identity = getattr(base, "base_identity", None) or model_identity(base)

    def delta_map(self) -> dict:
        return {n: self.deltas[n.replace(".", "__")] for n in self.delta_names}

    def __getattr__(self, name):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["base"], name)

    def config(self) -> dict:
        return {"adapted_from": self.base.config(), "adapted_layers": self.delta_names}

    def layers(self):
        return self.base.layers()

    def mapping(self, *a, **k):
        return self.base.mapping(*a, **k)

    def styles(self, ws):
        return self.base.styles(ws)

    def synthesis(self, ws, noise_mode="const", taps=None, generator=None, return_image=True, edits=None,
                  noise=None):
        return self.synthesis_from_styles(self.styles(ws), noise_mode=noise_mode, taps=taps, generator=generator,
                                          return_image=return_image, edits=edits, noise=noise)

    def synthesis_from_styles(self, styles, edits=None, **kw):
        return self.base.synthesis_from_styles(styles, edits=_delta_edits(self.delta_map(), edits), **kw)

    def synthesis_partial(self, styles, until, edits=None, **kw):
        return self.base.synthesis_partial(styles, until, edits=_delta_edits(self.delta_map(), edits), **kw)

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)

    def describe(self) -> str:
        n = sum(d.numel() for d in self.deltas.values())
        return f"{self.base.describe()}; adapted to one image on {', '.join(self.delta_names)} ({n} deltas)"
