"""Synthetic cases with a known answer for the deformable matcher (tests and evaluation).

Reference features are a random field with coarse and fine structure; the target is the
same field moved by a known similarity transform, so the matcher's answer can be scored.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .deformable_match import MatchResult, disc_mask, kernel_points, normalise_features, rotation, warp_to_target


def synthetic_case(gen: torch.Generator, size: int = 64, channels: int = 16, radius: float = 0.1):
    """(reference features, disc mask, target features, true transform): scale 0.7-1.4,
    rotation +-30 deg, centre anywhere in the middle 60 % of the map."""
    parts = [F.interpolate(torch.randn(1, channels, size // d, size // d, generator=gen), size=(size, size),
                           mode="bicubic", align_corners=False) for d in (4, 2)]
    ref = normalise_features(parts, size)[0]
    cx, cy = (torch.rand(2, generator=gen) * size * 0.5 + size * 0.25).tolist()
    mask = disc_mask(size, cx, cy, radius * size)
    s = 0.7 + 0.7 * float(torch.rand(1, generator=gen))
    a = -30 + 60 * float(torch.rand(1, generator=gen))
    px, py = (torch.rand(2, generator=gen) * size * 0.6 + size * 0.2).tolist()
    true = MatchResult(centre=(px, py), scale=s, angle=a, score=1.0, ref_centre=(cx, cy), grid_size=size)
    tgt = normalise_features([warp_to_target(ref[None], true, size)], size)[0]
    return ref, mask, tgt, true


def recovery_errors(found: MatchResult, mask: torch.Tensor, true: MatchResult) -> tuple[float, float, float]:
    """(centre error in % of the map, scale error in %, angle error in degrees).

    The matcher reports where the mask's centroid lands; the truth maps that centroid through
    the known transform.
    """
    _, _, (mx, my), _, _, _ = kernel_points(mask, 10)
    d = torch.tensor([mx - true.ref_centre[0], my - true.ref_centre[1]])
    expected = torch.tensor(true.centre) + true.scale * (rotation(torch.tensor(true.angle)) @ d)
    centre = float((torch.tensor(found.centre) - expected).norm()) / mask.shape[-1] * 100
    return centre, abs(found.scale / true.scale - 1) * 100, abs(found.angle - true.angle)


def recovered(errors, centre_pct=2.0, scale_pct=5.0, angle_deg=3.0) -> bool:
    return errors[0] <= centre_pct and errors[1] <= scale_pct and errors[2] <= angle_deg
