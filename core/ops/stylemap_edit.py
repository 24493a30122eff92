"""StyleMapGAN local editing: one-pass projection, stylemap blending and unaligned transplantation.

A real image is projected by ONE encoder pass; an edit is ONE decoder pass on a stylemap
mixed from a source and a reference (Kim et al. 2021, Sec. 3.3):

* ``w`` space: the image mask is max-pooled to the stylemap grid and the stylemap cells are
  taken from the reference where it is set (a hard ``where``, as the reference code does);
* ``w+`` space: every stylecode (two per resolution) is mixed with the mask max-pooled to
  that stylecode's resolution;
* unaligned transplantation: the reference's masked region is moved (and scaled / turned) to
  a target place before mixing - from an explicit offset/scale, or from a ``GLE_ROI`` of
  Deformable Match (automatic placement of the reference part on the source);
* beyond the paper, ``feather`` > 0 softens the mask (Gaussian blur of that many pixels, then
  area-pooled) and mixes linearly instead of the hard ``where``.

``strengths`` (0..1) interpolate the decoder's *stylecodes* from the source (0) to the full edit
(1, the paper's blend exactly). Interpolating the stylecodes instead of the stylemap makes the edit
affine in the strength, so a sweep runs the modulation convolutions twice per pair whatever the
number of strengths, and all strengths of all pairs go through the decoder as one batch; in ``w``
space the stylecode path differs from decoding the interpolated stylemap by a small fraction of
the edit (``scripts/bench_stylemap.py`` prints the PSNR between the two). The returned latents are
the interpolated stylemaps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import IncompatibleInputError
from ..imaging import centre_square
from ..latents import Latents
from .deformable_match import MatchResult, warp_to_target
from .invert import prepare_images

SPACES = ("w", "w+")


@dataclass
class BlendResult:
    images: torch.Tensor          # [B * S, 3, H, W] on the CPU, pair-major (pair 0: every strength, ...)
    latents: Latents              # the w-space blended stylemaps, same order
    grid_mask: torch.Tensor       # [B, 1, h, w] the mask as applied on the stylemap grid (target frame)
    strengths: list


def _require_stylemap_generator(generator) -> None:
    if getattr(generator, "latent_kind", "ws") != "stylemap":
        raise IncompatibleInputError(f"'{generator.name}' is a {generator.architecture}: stylemap editing needs a "
                                     f"StyleMapGAN generator")


@torch.no_grad()
def encode_images(generator, images: torch.Tensor, chunk: int = 16, on_step=None):
    """images [B, 3, H, W] in about [-1, 1] (any size: centre-cropped and resized as Invert Image does)
    -> (stylemap Latents, reconstruction). Each image costs one encoder pass and one decoder pass.
    """
    _require_stylemap_generator(generator)
    if tuple(images.shape[-2:]) != (generator.resolution,) * 2:
        images, _ = prepare_images(images, generator.resolution)
    if images.ndim != 4 or images.shape[1] != generator.img_channels:
        raise ValueError(f"images must be [B, {generator.img_channels}, H, W], got {list(images.shape)}")
    maps, recon = [], []
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to(generator.device, torch.float32)
        s = generator.encode(x)
        maps.append(s.cpu())
        recon.append(generator.synthesis(s).float().cpu())
        if on_step is not None:
            on_step(min(start + chunk, images.shape[0]), images.shape[0], None)
    lat = Latents(stylemap=torch.cat(maps), space="stylemap",
                  source={"encoded": int(images.shape[0]), "generator": generator.fingerprint()})
    return lat, torch.cat(recon)


def prepare_mask(mask: torch.Tensor, resolution: int) -> torch.Tensor:
    """A MASK [H, W], [B, H, W] or [B, 1, H, W] of any size -> [B, 1, R, R] in [0, 1] (centre-cropped like
    the photos it was drawn on, then resized); empty masks are refused."""
    m = mask.detach().float()
    if m.ndim == 2:
        m = m[None]
    if m.ndim == 4:
        if m.shape[1] != 1:
            raise ValueError(f"a mask must have one channel, got {list(m.shape)}")
        m = m[:, 0]
    if m.ndim != 3:
        raise ValueError(f"a mask must be [H, W] or [B, H, W], got {list(mask.shape)}")
    m = centre_square(m[:, None].clamp(0, 1), resolution)
    empty = [i for i in range(m.shape[0]) if not bool((m[i] > 0.5).any())]
    if empty:
        raise IncompatibleInputError(f"mask {empty[0]} is empty (no pixel above 0.5): there is no region to blend")
    return m


def gaussian_blur(m: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B, 1, H, W] (replicated borders)."""
    r = max(1, int(round(3 * sigma)))
    x = torch.arange(-r, r + 1, dtype=m.dtype, device=m.device)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    m = F.conv2d(F.pad(m, (r, r, 0, 0), mode="replicate"), k.reshape(1, 1, 1, -1))
    return F.conv2d(F.pad(m, (0, 0, r, r), mode="replicate"), k.reshape(1, 1, -1, 1))


def pool_mask(m: torch.Tensor, size: int, feather: float = 0.0) -> torch.Tensor:
    """[B, 1, R, R] image mask -> [B, 1, size, size] mixing weights.

    feather 0: max-pool then threshold (any covered pixel selects the cell, a hard 0/1);
    feather > 0: blurred by ``feather`` pixels then area-pooled (soft weights in [0, 1]).
    """
    k = m.shape[-1] // size
    if feather <= 0:
        return (F.max_pool2d(m, k) > 0.5).to(m.dtype) if k > 1 else (m > 0.5).to(m.dtype)
    soft = gaussian_blur((m > 0.5).to(m.dtype), feather)
    return F.avg_pool2d(soft, k) if k > 1 else soft


def manual_placement(mask: torch.Tensor, offset=(0.0, 0.0), scale: float = 1.0, angle: float = 0.0) -> MatchResult:
    """A placement that moves the mask's centre by ``offset`` (fractions of the image side, x right,
    y down) and scales/turns the region about it; mask [1, 1, R, R]."""
    r = mask.shape[-1]
    w = (mask[0, 0] > 0.5).float()
    ys, xs = torch.meshgrid(torch.arange(r, dtype=torch.float32), torch.arange(r, dtype=torch.float32), indexing="ij")
    cx, cy = float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum())
    return MatchResult(centre=(cx + offset[0] * r, cy + offset[1] * r), scale=float(scale), angle=float(angle),
                       score=float("nan"), ref_centre=(cx, cy), grid_size=r)


def _is_identity(p: MatchResult | None) -> bool:
    return p is None or (p.centre == p.ref_centre and p.scale == 1 and p.angle == 0)


def _broadcast(n: int, *tensors):
    out = []
    for t in tensors:
        if t.shape[0] not in (1, n):
            raise IncompatibleInputError(f"batch sizes do not match: {t.shape[0]} vs {n} (use 1 or the same number)")
        out.append(t.expand(n, *t.shape[1:]) if t.shape[0] == 1 else t)
    return out


@torch.no_grad()
def _stylecodes_of_both(generator, src: torch.Tensor, ref: torch.Tensor):
    """Source and reference stylecodes from ONE batched pass of the stylemap resizer (two small
    passes cost nearly twice one on a CPU)."""
    both = generator.stylecodes(torch.cat([src, ref]))
    n = src.shape[0]
    return [c[:n] for c in both], [c[n:] for c in both]


@torch.no_grad()
def _edit_stylecodes(generator, space, src, ref, full, m_tgt, placement, feather):
    """(source stylecodes, full-edit stylecodes) per styled layer: in ``w`` those of the blended stylemap
    ``full``; in ``w+`` the reference's (moved by ``placement``) mixed in at every resolution."""
    if space == "w":
        return _stylecodes_of_both(generator, src, full)
    codes_src, codes_ref = _stylecodes_of_both(generator, src, ref)
    weights = {}                                    # one pooled mask per resolution (two stylecodes each)
    edit = []
    for cs, cr in zip(codes_src, codes_ref):
        size = cs.shape[-1]
        cr = warp_to_target(cr, placement, size) if placement is not None else cr
        if size not in weights:
            weights[size] = pool_mask(m_tgt, size, feather)
        edit.append(torch.lerp(cs, cr, weights[size]))
    return codes_src, edit


def stylemap_blend(generator, source: Latents, reference: Latents, mask: torch.Tensor, space: str = "w",
                   strengths=(1.0,), feather: float = 0.0, placement: MatchResult | None = None,
                   chunk: int = 32, on_step=None) -> BlendResult:
    """Mix the reference's masked region into the source; see the module docstring.

    ``mask`` is drawn on the reference (any size, resized); with ``placement`` the region is
    moved to ``placement.centre`` (scale, angle) in the source, otherwise it stays in place.
    Batches: source, reference and mask each have 1 or B items. Returns B * len(strengths) images.
    """
    _require_stylemap_generator(generator)
    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    strengths = [float(a) for a in strengths]
    if not strengths:
        raise ValueError("give at least one strength")
    src, ref = source.stylemap_for(generator), reference.stylemap_for(generator)
    res, dev = generator.resolution, generator.device
    m_ref = prepare_mask(mask, res).to(dev)
    n = max(src.shape[0], ref.shape[0], m_ref.shape[0])
    src, ref, m_ref = _broadcast(n, src, ref, m_ref)
    moved = not _is_identity(placement)
    m_tgt = warp_to_target(m_ref, placement, res).clamp(0, 1) if moved else m_ref
    if moved and not bool((m_tgt > 0.5).any()):
        raise IncompatibleInputError("the placement moves the masked region entirely outside the image")
    grid = generator.latent_size
    ref_grid = warp_to_target(ref, placement, grid) if moved else ref
    grid_mask = pool_mask(m_tgt, grid, feather)
    full = torch.lerp(src, ref_grid, grid_mask)                            # the paper's w blend, one per pair
    a = torch.tensor(strengths, device=dev, dtype=src.dtype).reshape(1, -1, 1, 1, 1)
    blended_map = torch.lerp(src[:, None], full[:, None], a).flatten(0, 1)  # [n * S, ...], pair-major
    if strengths == [1.0] and space == "w":
        # one full-strength w edit: the blended stylemap through the whole decoder, nothing else
        decode = lambda part: generator.synthesis(full[part])  # noqa: E731
    else:
        # strengths interpolate the STYLECODES between the source and the full edit (exact at 0 and 1): affine
        # in the strength, so a sweep runs the modulation convolutions twice per pair, not once per strength
        codes_src, codes_edit = _edit_stylecodes(generator, space, src, ref, full, m_tgt,
                                                 placement if moved else None, feather)
        if len(strengths) == 1:
            codes = [torch.lerp(cs, ce, strengths[0]) for cs, ce in zip(codes_src, codes_edit)]
            decode = lambda part: generator.synthesis_from_stylecodes([c[part] for c in codes])  # noqa: E731
        else:
            delta = [ce - cs for cs, ce in zip(codes_src, codes_edit)]
            decode = lambda part: generator.synthesis_stylecode_sweep(  # noqa: E731
                [c[part] for c in codes_src], [d[part] for d in delta], strengths)
    images, per = [], max(1, chunk // len(strengths))
    for start in range(0, n, per):
        images.append(decode(slice(start, start + per)).float().cpu())
        if on_step is not None:
            on_step(min(start + per, n), n, None)
    lat = Latents(stylemap=blended_map.cpu(), space="stylemap",
                  source={"edit": "stylemap_blend", "space": space, "strengths": strengths, "feather": float(feather),
                          "moved": moved})
    return BlendResult(torch.cat(images), lat, grid_mask.cpu(), strengths)
