"""A final local search of a match in other (finer) maps, e.g. the image's pixels (issue 16, round 3).

The deformable match places the part with features of 16-64 px blocks; its error on real landmarks
is mostly horizontal (the parts' yaw-driven shifts). This stage keeps the match's scale and angle
and moves only its centre, within a window of +-(hx, hy) pixels of the match grid, to the best
similarity of the reference part in the given maps (whitened over the pair like the taps).
"""
from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F


def _patch_similarity(ref_pts, tgt_pts, weights, ncc: bool):
    """Similarity of the reference patch [C, N] with target patches [C, ..., N] (weights [N]).

    ``ncc``: the whole patch as one vector, each channel's weighted mean removed (normalised
    cross-correlation); else the weighted mean cosine of the per-position vectors."""
    w = weights / weights.sum()
    if ncc:
        r = ref_pts - (ref_pts * w).sum(-1, keepdim=True)
        t = tgt_pts - (tgt_pts * w).sum(-1, keepdim=True)
        r, t = r * w.sqrt(), t * w.sqrt()
        r = r / r.norm().clamp_min(1e-8)
        num = torch.einsum("cn,c...n->...", r, t)
        return num / t.pow(2).sum((0, -1)).sqrt().clamp_min(1e-8)
    r, t = F.normalize(ref_pts, dim=0), F.normalize(tgt_pts, dim=0)
    return torch.einsum("cn,c...n->...", r * w, t)


def refine_centre(ref_maps: torch.Tensor, tgt_maps: torch.Tensor, kmask: torch.Tensor, match, window: tuple,
                  ncc: bool = False, floor: float = 0.5, prior: tuple | None = None):
    """The match with its centre moved to the best place within +-window (x, y) pixels.

    ``ref_maps``, ``tgt_maps`` [C, S, S] on the match grid; ``kmask`` [S, S] the part's kernel
    weights; ``prior``: (weight, sigma, horizontal sigma) in pixels, a cost for leaving the match's centre."""
    from .deformable_match import _penalty, _subpixel_peak, kernel_points, rotation
    size, dev = kmask.shape[-1], tgt_maps.device
    offsets, weights, c, xs, ys, _ = kernel_points(kmask.float().to(dev), size, floor)   # every sample
    offsets = offsets + torch.tensor([c[0] - match.ref_centre[0], c[1] - match.ref_centre[1]], device=dev)
    q = match.scale * offsets @ rotation(torch.tensor(float(match.angle), device=dev)).t()  # [N, 2] in the target
    hx, hy = window
    cx, cy = round(match.centre[0]), round(match.centre[1])
    ar = lambda a, b: torch.arange(a, b, dtype=torch.float32, device=dev)  # noqa: E731
    gy, gx = torch.meshgrid(ar(cy - hy, cy + hy + 1), ar(cx - hx, cx + hx + 1), indexing="ij")
    pos = torch.stack([gx, gy], -1)                                                  # [Py, Px, 2]
    pts = pos[:, :, None, :] + q[None, None]                                         # [Py, Px, N, 2]
    py, px, n = pts.shape[:3]
    grid = ((pts + 0.5) * (2.0 / size) - 1.0).reshape(1, py, px * n, 2)
    tgt = F.grid_sample(tgt_maps[None].float(), grid, mode="bilinear", padding_mode="border",
                        align_corners=False)[0].view(-1, py, px, n)
    smap = _patch_similarity(ref_maps[:, ys, xs].float(), tgt, weights, ncc)
    if prior is not None:
        smap = smap - _penalty(pos, (match.centre[0], match.centre[1], *prior))
    x, y = _subpixel_peak(smap)
    return replace(match, centre=(cx - hx + x, cy - hy + y))

