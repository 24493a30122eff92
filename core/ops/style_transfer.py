"""Local style transfer by a query vector (Editing in Style, Collins et al. 2020, sec. 3.2).

For every styled layer, the edited style is ``s_G = s_S + q * (s_R - s_S)`` where the
query q in [0, 1]^C favours channels whose catalog contribution M[k] to the region of
interest is high:

- simultaneous: ``q = min(1, lambda * M[k])``;
- sequential: channels sorted by M[k] get q = 1 one after another while the summed
  out-of-region effect ``sum (1 - M)`` stays within the budget epsilon, and only where
  ``M > rho / (1 + rho)``. The 4x4 and 8x8 layers get their own (small) epsilon.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import IncompatibleInputError
from ..latents import Latents

MODES = ("sequential", "simultaneous")
DEFAULT_RHO_THRESHOLD = 0.1   # rho / (1 + rho), as in the paper
DEFAULT_EPSILON = 50.0        # eyes / mouth on FFHQ in the reference settings
DEFAULT_EPSILON_LOW = 5.0     # 4x4 and 8x8 layers
LOW_RESOLUTION = 8


def query_simultaneous(m: torch.Tensor, strength: float) -> torch.Tensor:
    return (strength * m).clamp(0, 1)


def query_sequential(m: torch.Tensor, epsilon: float, threshold: float = DEFAULT_RHO_THRESHOLD) -> torch.Tensor:
    """Greedy solution of  min -sum q (M - rho (1 - M))  s.t.  sum q (1 - M) <= epsilon, q in [0,1]."""
    order = torch.argsort(m, descending=True, stable=True)
    cost = torch.cumsum(1 - m[order], dim=0)
    take = (cost <= epsilon) & (m[order] > threshold)
    # greedy: stop at the first channel that no longer fits (the prefix property)
    take = torch.cumprod(take.to(torch.int64), dim=0).bool()
    q = torch.zeros_like(m)
    q[order[take]] = 1.0
    return q


@dataclass(frozen=True)
class TransferSettings:
    mode: str = "sequential"
    strength: float = DEFAULT_EPSILON           # epsilon (sequential) or lambda (simultaneous)
    epsilon_low: float = DEFAULT_EPSILON_LOW    # sequential budget of layers <= 8x8
    rho_threshold: float = DEFAULT_RHO_THRESHOLD

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.strength < 0 or self.epsilon_low < 0:
            raise ValueError("strength and epsilon_low must be >= 0")
        if not 0 <= self.rho_threshold < 1:
            raise ValueError("rho_threshold must be in [0, 1)")


def query_vectors(generator, catalog, label, settings: TransferSettings) -> list[torch.Tensor]:
    """One query vector per styled layer, in layer-table order."""
    qs = []
    for layer in generator.styled_layers():
        m = catalog.contribution(label, layer.name)
        if settings.mode == "simultaneous":
            qs.append(query_simultaneous(m, settings.strength))
        else:
            eps = settings.epsilon_low if layer.resolution <= LOW_RESOLUTION else settings.strength
            qs.append(query_sequential(m, eps, settings.rho_threshold))
    return qs


def _pair(target: Latents, reference: Latents):
    bt, br = target.batch_size, reference.batch_size
    if bt != br and 1 not in (bt, br):
        raise IncompatibleInputError(f"target has {bt} latents and reference {br}: give equal counts, or one of "
                                     f"them a single latent")
    return max(bt, br)


@torch.no_grad()
def local_transfer(generator, catalog, target: Latents, reference: Latents, label,
                   settings_list: list[TransferSettings]) -> Latents:
    """Edited StyleSpace latents for every (pair, setting): batch order is pair-major.

    q = 0 everywhere returns the target's styles exactly; q = 1 everywhere the reference's.
    """
    catalog.check_generator(generator)
    n = _pair(target, reference)
    s_t = [s.expand(n, -1) if s.shape[0] == 1 else s for s in target.styles_for(generator)]
    s_r = [s.expand(n, -1) if s.shape[0] == 1 else s for s in reference.styles_for(generator)]
    edited = [[] for _ in s_t]
    for i in range(n):
        for settings in settings_list:
            qs = query_vectors(generator, catalog, label, settings)
            for layer, (a, b, q) in enumerate(zip(s_t, s_r, qs)):
                q = q.to(a.device, a.dtype)
                edited[layer].append(torch.lerp(a[i], b[i], q))  # exact at q = 0 and q = 1
    styles = tuple(torch.stack(e).cpu() for e in edited)
    noise = None
    if target.noise:  # keep the target's fitted noise (inverted real images)
        base = target if target.batch_size == n else target.select([0] * n)
        noise = base.repeat_each(len(settings_list))
    return Latents(styles=styles, space="s", noise=noise,
                   source={"edit": "catalog_transfer", "label": str(label),
                           "settings": [s.__dict__ for s in settings_list]})


def selected_channel_counts(generator, catalog, label, settings: TransferSettings) -> dict:
    """How many channels of each layer the query moves at all (q > 0): a locality diagnostic."""
    return {l.name: int((q > 0).sum()) for l, q in zip(generator.styled_layers(),
                                                         query_vectors(generator, catalog, label, settings))}
