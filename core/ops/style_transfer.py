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
# Simultaneous: M is a fraction (rows sum to 1 over clusters), so lambda 2 moves channels whose
# share in the part is >= 0.5 fully and the rest in proportion. Epsilon's 50 as lambda moves every
# channel with a 2 % share fully: ~95 % of all channels on the shipped catalog, a whole-face swap.
DEFAULT_LAMBDA = 2.0
DEFAULT_STRENGTH = {"sequential": DEFAULT_EPSILON, "simultaneous": DEFAULT_LAMBDA}
LOW_RESOLUTION = 8


def query_simultaneous(m: torch.Tensor, strength: float) -> torch.Tensor:
    return (strength * m).clamp(0, 1)


def query_sequential(m: torch.Tensor, epsilon, threshold: float = DEFAULT_RHO_THRESHOLD) -> torch.Tensor:
    """Greedy solution of  min -sum q (M - rho (1 - M))  s.t.  sum q (1 - M) <= epsilon, q in [0,1].

    ``m`` is [C] or a batch [L, C] of rows (``epsilon`` a number or one per row); channels are
    taken in order of decreasing M until the next no longer fits the budget.
    """
    rows = m if m.ndim == 2 else m[None]
    eps = torch.as_tensor(epsilon, dtype=rows.dtype).reshape(-1, 1)
    sorted_m, order = torch.sort(rows, dim=1, descending=True, stable=True)
    take = (torch.cumsum(1 - sorted_m, dim=1) <= eps) & (sorted_m > threshold)
    take = torch.cumprod(take.to(rows.dtype), dim=1)      # the prefix property of the greedy choice
    q = torch.zeros_like(rows).scatter_(1, order, take)
    return q if m.ndim == 2 else q[0]


@dataclass(frozen=True)
class TransferSettings:
    mode: str = "sequential"
    strength: float | None = None               # epsilon (sequential) or lambda (simultaneous);
    epsilon_low: float = DEFAULT_EPSILON_LOW    # None = the mode's default. Sequential budget of layers <= 8x8
    rho_threshold: float = DEFAULT_RHO_THRESHOLD

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.strength is None:
            object.__setattr__(self, "strength", DEFAULT_STRENGTH[self.mode])
        if self.strength < 0 or self.epsilon_low < 0:
            raise ValueError("strength and epsilon_low must be >= 0")
        if not 0 <= self.rho_threshold < 1:
            raise ValueError("rho_threshold must be in [0, 1)")


def query_vectors(generator, catalog, label, settings: TransferSettings) -> list[torch.Tensor]:
    """One query vector per styled layer, in layer-table order (all layers in one batched pass)."""
    layers = generator.styled_layers()
    m = catalog.stacked_contribution(label, tuple(l.name for l in layers))     # [L, C_max], zero-padded
    if settings.mode == "simultaneous":
        q = query_simultaneous(m, settings.strength)
    else:
        eps = [settings.epsilon_low if l.resolution <= LOW_RESOLUTION else settings.strength for l in layers]
        q = query_sequential(m, eps, settings.rho_threshold)
    return [q[i, :l.style_dim] for i, l in enumerate(layers)]


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
    s_t = [s.expand(n, -1) for s in target.styles_for(generator)]
    s_r = [s.expand(n, -1) for s in reference.styles_for(generator)]
    per_setting = [query_vectors(generator, catalog, label, st) for st in settings_list]
    styles = []
    for layer, (a, b) in enumerate(zip(s_t, s_r)):
        q = torch.stack([qs[layer] for qs in per_setting]).to(a.device, a.dtype)       # [S, C]
        mixed = torch.lerp(a[:, None], b[:, None], q[None])                            # exact at q = 0 and 1
        styles.append(mixed.reshape(n * len(settings_list), -1).cpu())
    styles = tuple(styles)
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
