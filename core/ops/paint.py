"""GANPaint's edit: switch a concept's units on or off inside a painted region.

At the unit table's layer, ``z_e = (1 - a) * z + a * (s * p_c)`` with ``a`` = unit selector (the
concept's top 4 / 10 / 15 units) x region mask (max-pooled to the layer). The value is the unit's
0.99 quantile (draw), 0 (remove), or a reference image's own activation at that position (copy).
A ``PaintCanvas`` pauses the synthesis at the layer once; every preview then costs only the rest
of the forward pass (the paper's "preview at once").
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import IncompatibleInputError
from ..imaging import centre_square
from .featuremap import codes_for, resume, run_to, with_features

MODES = ("draw", "remove", "copy")


@dataclass
class Stroke:
    concept: str
    mask: torch.Tensor            # [H, W] or [B, H, W] at image size, values in [0, 1]
    mode: str = "draw"
    strength: object = "medium"   # 'low' / 'medium' / 'high' (4 / 10 / 15 units) or a unit count


def region_at(mask: torch.Tensor, size: tuple, batch: int, resolution: int) -> torch.Tensor:
    """An image-size mask -> [B, 1, h, w] at the layer, max-pooled so thin strokes survive."""
    m = mask.float()
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if m.ndim != 3 or tuple(m.shape[-2:]) != (resolution, resolution):
        raise ValueError(f"the paint mask must be {resolution}x{resolution} (the generator's image size), "
                         f"got {list(mask.shape)}")
    if m.shape[0] not in (1, batch):
        raise ValueError(f"{m.shape[0]} masks for {batch} images: give one mask, or one per image")
    if not (m > 0).any():
        raise ValueError("the paint mask is empty: paint the region to edit")
    return F.adaptive_max_pool2d(m.unsqueeze(1), size).expand(batch, -1, -1, -1)


def mask_to_model(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """A MASK [H, W] or [B, H, W] of a photo of any size -> [B, R, R], centre-cropped and resized
    exactly as Invert Image crops and resizes the photo (so a mask painted on the photo still fits)."""
    from .invert import MIN_SIZE
    m = mask.float()
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if m.ndim != 3:
        raise ValueError(f"a MASK must be [H, W] or [B, H, W], got {list(mask.shape)}")
    if min(m.shape[-2:]) < MIN_SIZE:
        raise ValueError(f"the mask is {m.shape[-1]}x{m.shape[-2]}: too small (at least {MIN_SIZE} px per side)")
    return centre_square(m.unsqueeze(1).clamp(0, 1), resolution)[:, 0].clamp(0, 1)


def _check_stroke(table, st: Stroke):
    if st.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {st.mode!r}")
    return table.units(st.concept, st.strength)


def apply_strokes(table, x: torch.Tensor, strokes: list, resolution: int, reference: torch.Tensor | None = None):
    """The edited feature map of one layer (``x`` [B, C, h, w]); strokes apply in order."""
    b, c, h, w = x.shape
    for st in strokes:
        units = _check_stroke(table, st).to(x.device)
        region = region_at(st.mask, (h, w), b, resolution).to(x)
        sel = torch.zeros(c, device=x.device, dtype=x.dtype)
        sel[units] = 1
        a = sel.view(1, c, 1, 1) * region
        if st.mode == "draw":
            value = table.quantiles.to(x).view(1, c, 1, 1)
        elif st.mode == "remove":
            value = torch.zeros((), device=x.device, dtype=x.dtype)
        else:
            if reference is None:
                raise ValueError("mode 'copy' needs a reference image's latents")
            value = reference.to(x)
            if value.shape[0] not in (1, b):
                raise ValueError("give one reference, or one per image")
        x = (1 - a) * x + a * value
    return x


class PaintCanvas:
    """One paused synthesis at the table's layer; ``render(strokes)`` = the rest of one forward pass."""

    def __init__(self, generator, table, latents, reference=None):
        table.check_generator(generator)
        self.generator, self.table = generator, table
        self.codes = codes_for(generator, latents)
        with torch.no_grad():
            self.state, self.features = run_to(generator, self.codes, table.layer)
            self.reference = None
            if reference is not None:
                if reference.batch_size not in (1, latents.batch_size):
                    raise IncompatibleInputError("give one reference latent, or one per target")
                _, self.reference = run_to(generator, codes_for(generator, reference), table.layer, image=False)

    @torch.no_grad()
    def edited_features(self, strokes: list) -> torch.Tensor:
        return apply_strokes(self.table, self.features, strokes, self.generator.resolution, self.reference)

    @torch.no_grad()
    def render(self, strokes: list) -> torch.Tensor:
        if not strokes:
            raise ValueError("no strokes to paint")
        x = self.edited_features(strokes)
        return resume(self.generator, self.codes, with_features(self.state, x)).float().cpu()


def paint(generator, table, latents, strokes: list, reference=None) -> torch.Tensor:
    """Images [B, C, H, W] of ``latents`` with ``strokes`` painted (see ``Stroke``)."""
    for st in strokes:   # cheap checks before any synthesis
        _check_stroke(table, st)
    return PaintCanvas(generator, table, latents, reference).render(strokes)


def paint_edit(table, strokes: list, resolution: int, reference: torch.Tensor | None = None) -> dict:
    """The same edit as a synthesis ``edits`` entry {layer: fn} (used while adapting to a painted photo)."""
    return {table.layer: lambda x: apply_strokes(table, x, strokes, resolution, reference)}
