"""Adaptive Paste-GAN ROI detection: deformable feature matching (Sec. 3.2 of the paper).

The reference's features under the user's mask form a kernel of points p_n (offsets from
the mask centre, on a grid dilated so the kernel spans at most about 10x10 samples). The
kernel is placed at every target position p0 with scale s and rotation alpha:

    S(p0) = sum_n w_n K(p_n) . F_t(p0 + s T(alpha) p_n) / sum_n w_n        (cosine, bilinear)

s and alpha are optimised with Adam + StepLR on  -log max_p0 S  plus the bound penalties
of the paper; p0 is the global maximum. Because bilinear sampling is linear, the dot
products K(p_n) . F_t are computed once as N similarity maps, and each step only samples
those maps at shifted positions. Beyond the paper, a batch of starting hypotheses
(scales x angles) is optimised in parallel and the best kept, so a far-off start does not
trap the search; the peak is located with sub-pixel precision.

Conventions: positions are (x, y) pixels with y down; a positive angle turns the kernel
counter-clockwise on screen; scale > 1 means the part is larger in the target.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from .autograd import normal_tensor, trainable


@dataclass
class MatchSettings:
    steps: int = 20                    # the paper's 80-step schedule compressed 4x (PAPER_SETTINGS: 2x): the
    lr_scale: float = 0.5              # parallel starts begin close, and the lattice polish settles the end
    lr_angle: float = 5.0              # degrees
    lr_step: int | None = None         # StepLR period; None: a quarter of the steps (paper: 20 of 80)
    lr_gamma: float = 0.5
    max_angle: float = 45.0            # |alpha| beyond this is penalised (degrees)
    max_scale_term: float = 1.5        # |s - 1/s| beyond this is penalised (s in about [0.5, 2])
    angle_weight: float = 0.05
    scale_weight: float = 1.0
    kernel_span: int = 10              # the kernel covers at most this many samples per side
    scales: tuple = (0.7, 0.84, 1.0, 1.19, 1.41)        # starting hypotheses (scored globally)
    angles: tuple = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)
    refine_top: int = 3                # hypotheses refined by Adam
    window: int = 9                    # refinement tracks the peak in a window of this side
    start_stride: int = 2              # starting hypotheses are scored on every 2nd position
    # beyond the paper: the whole image is matched first (coarse grid), and the part's search starts
    # from that similarity and is scored minus a position prior around where it maps the part
    align: bool = True                 # False: the paper's search (all starts, no prior)
    align_grid: int = 32               # side of the grid of the whole-image match
    align_radius: float = 0.35         # the whole-image kernel: a disc of this radius (of the side), centred
    prior_weight: float = 0.05         # score units lost at one sigma from the expected centre (0: no prior)
    prior_sigma: float = 0.05          # of the image side
    prior_sigma_x: float = 0.0         # > 0: the prior's horizontal sigma (of the side), else prior_sigma
    part_scales: tuple = (0.9, 1.0, 1.1)      # starts of the part search, relative to the whole-image match
    part_angles: tuple = (-8.0, 0.0, 8.0)
    membership_weight: float = 0.0     # with a catalog: its soft cluster memberships as one more map, of
    membership_temperature: float = 10.0   # this weight relative to each tap (0: not used)
    part_search: bool = True           # False (with align): the whole-image match's mapping of the part centre
    context: float = 0.0               # > 0: the part's kernel is a Gaussian window (sigma: this many mask radii)
    whiten: bool = True                # each tap's channels centred and scaled over the pair's two images
                                       # (issue 16: the main gain on real landmarks; scores may be < 0)
    soft_peak: float = 0.0             # > 0: the final peak by soft-argmax at this temperature (0: parabola)
    tap_weights: tuple = ()            # weight of each tap in the similarity (empty: all 1)
    noise_free: bool = False           # features rendered with the noise inputs off (see extract_taps)
    vote: float = 0.0                  # > 0 (with align): each kernel point finds its best match within this
                                       # radius (of the side) of where the whole-image match puts it, and
                                       # votes for the part centre; the weighted median of the votes wins
    refine_taps: tuple = ()            # issue 16 round 3: a final search of the centre alone in these maps
                                       # ("rgb": the image), whitened over the pair (empty: none)
    refine_window: tuple = (4, 4)      # within +- this many match-grid pixels in x and y
    refine_ncc: bool = False           # the patch as one vector (normalised cross-correlation), else cosines
    refine_context: float = 0.0        # > 0: its kernel is the context window (see ``context``)
    refine_prior: float = 0.0          # > 0: a cost for leaving the match's centre (sigmas: the prior's)

    def describe(self) -> str:
        extra = "".join([", channels whitened over the pair" if self.whiten else "",
                         f", context window sigma {self.context:g} radii" if self.context > 0 else "",
                         f", soft-argmax peak T={self.soft_peak:g}" if self.soft_peak > 0 else "",
                         ", features without noise" if self.noise_free else "",
                         (f", then the centre alone searched +-{self.refine_window[0]}x{self.refine_window[1]} px "
                          f"in {'+'.join(self.refine_taps)}" + (" (NCC)" if self.refine_ncc else "")
                          + (f" with prior {self.refine_prior:g}" if self.refine_prior else "")
                          + (f", context {self.refine_context:g}" if self.refine_context else ""))
                         if self.refine_taps else ""])
        if not self.align:
            return f"{self.steps} Adam steps, {len(self.scales)}x{len(self.angles)} starts (the paper){extra}"
        whole = f"whole-image match on a {self.align_grid} grid"
        prior = f"position prior weight {self.prior_weight:g}, sigma {100 * self.prior_sigma:g} %" + (
            f" (horizontal {100 * self.prior_sigma_x:g} %)" if self.prior_sigma_x else "")
        if not self.part_search:
            return f"{whole} only (its mapping of the part centre){extra}"
        if self.vote > 0:
            return (f"{whole}, then every kernel point's best match within {100 * self.vote:g} % votes "
                    f"(weighted median), {prior}{extra}")
        return (f"{whole}, then {self.steps} Adam steps from {len(self.part_scales)}x{len(self.part_angles)} "
                f"starts around it, {prior}{extra}")


@dataclass
class MatchResult:
    """Where the reference part sits in the target (ComfyUI type GLE_ROI)."""
    centre: tuple                  # (x, y) in the match grid's pixels
    scale: float
    angle: float                   # degrees, counter-clockwise on screen
    score: float                   # mean cosine similarity at the optimum
    ref_centre: tuple              # (x, y) of the reference mask centre, match-grid pixels
    grid_size: int                 # side of the match grid
    hypotheses: list = field(default_factory=list)   # (start s, start angle, end s, end angle, score)

    def to_pixels(self, size: int) -> tuple:
        """(centre, ref_centre) converted to pixel coordinates of a size x size image."""
        f = size / self.grid_size
        conv = lambda p: ((p[0] + 0.5) * f - 0.5, (p[1] + 0.5) * f - 0.5)  # noqa: E731
        return conv(self.centre), conv(self.ref_centre)

    def describe(self) -> str:
        return (f"ROI centre ({self.centre[0]:.1f}, {self.centre[1]:.1f}) of a {self.grid_size} grid, scale "
                f"{self.scale:.3f}, angle {self.angle:+.1f} deg, similarity {self.score:.3f}")


# the paper's search (Sec. 3.2) as this module implements it, for comparison: no whole-image stage,
# no prior, raw features, 40 steps; with the paper's taps (default_match_layers(g)[::2] on 5+ blocks)
PAPER_SETTINGS = MatchSettings(steps=40, align=False, prior_weight=0.0, whiten=False)


def normalise_features(maps: list[torch.Tensor], size: int, weights: list[float] | None = None) -> torch.Tensor:
    """Resize maps [B, C_i, h, w] to size x size, unit-normalise each per position, concatenate.

    The result's positions are unit vectors, so dot products are (weighted) mean cosine similarities.
    """
    weights = weights or [1.0] * len(maps)
    parts = []
    for m, w in zip(maps, weights):
        m = F.interpolate(m.float(), size=(size, size), mode="bilinear", align_corners=False)
        parts.append(F.normalize(m, dim=1) * math.sqrt(w))
    return torch.cat(parts, dim=1) / math.sqrt(sum(weights))


def kernel_points(mask: torch.Tensor, span: int, floor: float = 0.5):
    """Offsets p_n (relative to the mask centroid), weights and grid positions of the kernel.

    ``mask`` [S, S] in [0, 1]; positions inside (> ``floor``) are subsampled with a stride chosen
    so the kernel spans at most ``span`` samples per side.
    """
    inside = mask > floor
    if not inside.any():
        raise ValueError("the reference mask is empty: draw the part to copy (white = selected)")
    ys, xs = torch.nonzero(inside, as_tuple=True)
    w = mask[ys, xs].float()
    cx, cy = float((xs.float() * w).sum() / w.sum()), float((ys.float() * w).sum() / w.sum())
    extent = int(max(xs.max() - xs.min(), ys.max() - ys.min())) + 1
    stride = max(1, math.ceil(extent / span))
    keep = ((xs - xs.min()) % stride == 0) & ((ys - ys.min()) % stride == 0)
    xs, ys, w = xs[keep], ys[keep], w[keep]
    offsets = torch.stack([xs.float() - cx, ys.float() - cy], dim=1)
    return offsets, w, (cx, cy), xs, ys, stride


def rotation(angle_deg: torch.Tensor) -> torch.Tensor:
    """T(alpha) of the paper for (x, y-down) vectors: [..., 2, 2]."""
    a = torch.deg2rad(angle_deg)
    c, s = torch.cos(a), torch.sin(a)
    return torch.stack([torch.stack([c, s], -1), torch.stack([-s, c], -1)], -2)


def _sample_sum(dots, offsets, weights, scale, angle, grid, size):
    """sum_n w_n dots_n(p + s T(alpha) p_n) / sum w for positions ``grid`` [H, P, P, 2] (pixels).

    The N maps are the batch of one ``grid_sample`` call, each with the grid of its own point
    for all H hypotheses stacked, so the maps are never copied per hypothesis.
    """
    n, h, p = dots.shape[0], scale.shape[0], grid.shape[1]
    unit = 2.0 / size                                   # pixels -> grid_sample's [-1, 1] coordinates
    q = (scale * unit)[None, :, None] * torch.einsum("hij,nj->nhi", rotation(angle), offsets)  # [N, H, 2]
    pts = ((grid + 0.5) * unit - 1.0)[None] + q[:, :, None, None, :]                       # [N, H, P, P, 2]
    sampled = F.grid_sample(dots[:, None], pts.reshape(n, h * p, p, 2), mode="bilinear",
                            padding_mode="zeros", align_corners=False).view(n, h, p, p)
    return torch.einsum("nhxy,n->hxy", sampled, weights) / weights.sum()


def _penalty(grid: torch.Tensor, prior) -> torch.Tensor | float:
    """The position prior's cost at grid positions [..., 2]: weight * d^2 / (2 sigma^2), d the
    distance to the expected centre; ``prior`` = (x, y, weight, sigma in pixels[, horizontal
    sigma in pixels]) or None."""
    if prior is None:
        return 0.0
    x, y, w, sigma = prior[:4]
    sx = prior[4] if len(prior) > 4 else sigma
    return w * ((grid[..., 0] - x) ** 2 / (2 * sx * sx) + (grid[..., 1] - y) ** 2 / (2 * sigma * sigma))


def _full_grid(h, size, dev, stride=1):
    c = torch.arange(0, size, stride, dtype=torch.float32, device=dev)
    gy, gx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([gx, gy], -1)[None].expand(h, -1, -1, -1)


def _similarity_maps(dots, offsets, weights, scale, angle, size, stride=1):
    """S(p0) for every hypothesis at grid positions p0 = stride * (i, j): [H, S', S']."""
    grid = _full_grid(scale.shape[0], size, dots.device, stride)
    return _sample_sum(dots, offsets, weights, scale, angle, grid, size)


def _polish(dots, offsets, weights, scale, angle, where, window, size, rounds=2, prior=None):
    """Adam ends oscillating within its last step size: settle each hypothesis on the best
    point of a small (scale, angle) lattice around it, twice, the second time finer."""
    ds, da = 0.01, 0.75
    grid = where.round()[:, None, None, :] + window[None]
    k = torch.arange(-3, 4, dtype=scale.dtype, device=scale.device)
    for _ in range(rounds):
        cand_s = (scale[:, None, None] * (1 + ds * k)[None, :, None]).expand(-1, 7, 7).reshape(-1)
        cand_a = (angle[:, None, None] + da * k[None, None, :]).expand(-1, 7, 7).reshape(-1)
        g = grid.repeat_interleave(49, dim=0)
        peaks = (_sample_sum(dots, offsets, weights, cand_s, cand_a, g, size)
                 - _penalty(g, prior)).flatten(1).max(1).values
        best = peaks.view(-1, 49).argmax(1) + torch.arange(scale.shape[0], device=scale.device) * 49
        scale, angle = cand_s[best], cand_a[best]
        ds, da = ds / 3, da / 3
    return scale, angle


def _subpixel_peak(smap: torch.Tensor):
    """(x, y) of the maximum of a 2-D map [H, W], refined by a parabola through its neighbours."""
    h, size = smap.shape[-2:]
    idx = int(torch.argmax(smap))
    y, x = divmod(idx, size)

    def refine(a, b, c):
        den = a - 2 * b + c
        return 0.0 if den >= 0 else float(0.5 * (a - c) / den)

    dx = refine(smap[y, x - 1], smap[y, x], smap[y, x + 1]) if 0 < x < size - 1 else 0.0
    dy = refine(smap[y - 1, x], smap[y, x], smap[y + 1, x]) if 0 < y < h - 1 else 0.0
    return x + max(-0.5, min(0.5, dx)), y + max(-0.5, min(0.5, dy))


def _soft_peak(smap: torch.Tensor, temperature: float, half: int = 2):
    """(x, y) of the maximum of a 2-D map as the softmax-weighted mean position around it."""
    size = smap.shape[-1]
    y, x = divmod(int(torch.argmax(smap)), size)
    y0, y1, x0, x1 = max(0, y - half), min(size, y + half + 1), max(0, x - half), min(size, x + half + 1)
    w = torch.softmax(smap[y0:y1, x0:x1].flatten() / temperature, 0).view(y1 - y0, x1 - x0)
    ys = torch.arange(y0, y1, dtype=w.dtype, device=w.device)
    xs = torch.arange(x0, x1, dtype=w.dtype, device=w.device)
    return float((w.sum(0) * xs).sum()), float((w.sum(1) * ys).sum())


def _placement(features: torch.Tensor):
    """``on(x)``: x (a tensor or a list of numbers) as float32 on the features' device.

    Every tensor the matcher makes or receives besides the features (the mask, and with it the
    kernel offsets and weights; the starting scales and angles; the refinement window) goes
    through it, so the whole search runs where the features are.
    """
    dev = features.device

    def on(x):
        if isinstance(x, torch.Tensor):
            return x.to(device=dev, dtype=torch.float32)
        return torch.tensor(x, dtype=torch.float32, device=dev)
    return on


def match_features(ref_feat: torch.Tensor, ref_mask: torch.Tensor, tgt_feat: torch.Tensor,
                   settings: MatchSettings | None = None, on_step=None, prior=None,
                   starts: list | None = None, floor: float = 0.5) -> MatchResult:
    """Deformable matching on normalised feature maps [C, S, S] and a reference mask [S, S].

    1. every starting (s, alpha) is scored by its global maximum;
    2. the best ``refine_top`` are optimised with Adam + StepLR (the paper's objective),
       the maximum being tracked in a window that follows it;
    3. the finals are scored globally again and the best one's peak is refined to sub-pixel.
    """
    st = settings or MatchSettings()
    size = tgt_feat.shape[-1]
    if ref_feat.shape != tgt_feat.shape or ref_mask.shape != ref_feat.shape[-2:]:
        raise ValueError("reference features, target features and mask must share one grid")
    with trainable():
        ref_feat, tgt_feat, ref_mask = (normal_tensor(t) for t in (ref_feat, tgt_feat, ref_mask))
        on = _placement(tgt_feat)
        ref_feat, ref_mask = on(ref_feat), on(ref_mask)
        offsets, weights, centre, xs, ys, _ = kernel_points(ref_mask, st.kernel_span, floor)
        kernel = ref_feat[:, ys, xs].t().float()                                           # [N, C]
        dots = (kernel @ tgt_feat.reshape(tgt_feat.shape[0], -1).float()).view(-1, size, size).detach()
        starts = starts or [(s, a) for s in st.scales for a in st.angles]
        with torch.no_grad():
            s0 = on([s for s, _ in starts])
            a0 = on([a for _, a in starts])
            coarse = _similarity_maps(dots, offsets, weights, s0, a0, size, st.start_stride)
            coarse = coarse - _penalty(_full_grid(1, size, coarse.device, st.start_stride), prior)
            peaks0 = coarse.flatten(1).max(1)
        top = torch.argsort(peaks0.values, descending=True)[: max(1, st.refine_top)]
        scale = s0[top].clone().requires_grad_(True)
        angle = a0[top].clone().requires_grad_(True)
        side = coarse.shape[-1]
        where = torch.stack([peaks0.indices[top] % side, peaks0.indices[top] // side], -1).float() * st.start_stride
        half = st.window // 2
        offs = on(torch.arange(-half, half + 1))
        wy, wx = torch.meshgrid(offs, offs, indexing="ij")
        window = torch.stack([wx, wy], -1)                                                  # [P, P, 2]
        opt = torch.optim.Adam([{"params": [scale], "lr": st.lr_scale}, {"params": [angle], "lr": st.lr_angle}])
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=st.lr_step or max(1, st.steps // 4), gamma=st.lr_gamma)
        for step in range(st.steps):
            grid = where.round()[:, None, None, :] + window[None]
            smap = _sample_sum(dots, offsets, weights, scale, angle, grid, size)           # [H, P, P]
            idx = (smap - _penalty(grid, prior)).flatten(1).argmax(1)
            peak = smap.flatten(1).gather(1, idx[:, None])[:, 0]
            loss = (-torch.log(peak.clamp_min(1e-4))
                    + st.angle_weight * F.relu(angle.abs() - st.max_angle)
                    + st.scale_weight * F.relu((scale - 1 / scale.clamp_min(1e-3)).abs() - st.max_scale_term)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                scale.clamp_(0.2, 5.0)
                where = grid.flatten(1, 2)[torch.arange(grid.shape[0], device=idx.device), idx]  # follow the peak
            if on_step is not None:
                on_step(step + 1, st.steps, None)
        with torch.no_grad():
            s_end, a_end = _polish(dots, offsets, weights, scale.detach(), angle.detach(), where, window, size,
                                   prior=prior)
            raw = _similarity_maps(dots, offsets, weights, s_end, a_end, size)
            finals = raw - _penalty(_full_grid(1, size, raw.device), prior)
            peaks = finals.flatten(1).max(1).values
            h = int(torch.argmax(peaks))
            smap = finals[h]
    x, y = _soft_peak(smap, st.soft_peak) if st.soft_peak > 0 else _subpixel_peak(smap)
    score = float(raw[h].flatten()[int(torch.argmax(smap))])
    hyps = [(starts[int(t)][0], starts[int(t)][1], float(s1), float(a1), float(p))
            for t, s1, a1, p in zip(top, s_end, a_end, peaks)]
    return MatchResult(centre=(x, y), scale=float(s_end[h]), angle=float(a_end[h]), score=score,
                       ref_centre=centre, grid_size=size, hypotheses=hyps)


def _coarse(feat: torch.Tensor, size: int) -> torch.Tensor:
    return F.normalize(F.interpolate(feat[None], size=(size, size), mode="area")[0], dim=0)


def whole_image_match(ref_feat: torch.Tensor, tgt_feat: torch.Tensor, settings: MatchSettings) -> MatchResult:
    """The similarity that maps the reference's central region onto the target, on a coarse grid."""
    g = min(settings.align_grid, ref_feat.shape[-1])       # never finer than the features' own grid
    disc = disc_mask(g, (g - 1) / 2, (g - 1) / 2, settings.align_radius * g)
    return match_features(_coarse(ref_feat, g), disc, _coarse(tgt_feat, g), settings)


def disc_mask(size: int, cx: float, cy: float, r: float) -> torch.Tensor:
    """A filled disc [size, size] of radius r around (cx, cy)."""
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    return (((xx - cx) ** 2 + (yy - cy) ** 2) <= r * r).float()


def reanchor(match: MatchResult, ref_point: tuple) -> MatchResult:
    """The same similarity, its centre being where it maps ``ref_point`` (reference, match grid)."""
    if tuple(ref_point) == tuple(match.ref_centre):
        return match
    d = torch.tensor([ref_point[0] - match.ref_centre[0], ref_point[1] - match.ref_centre[1]])
    x, y = (torch.tensor(match.centre) + match.scale * rotation(torch.tensor(match.angle)) @ d).tolist()
    return replace(match, centre=(x, y), ref_centre=tuple(ref_point))


CONTEXT_FLOOR = math.exp(-2.0)          # the context window is cut at two sigmas


def context_window(mask: torch.Tensor, centre: tuple, factor: float) -> torch.Tensor:
    """max(mask, a Gaussian around ``centre`` of sigma ``factor`` x the mask's radius) [S, S].

    A circle a few pixels wide holds too few features to tell a part from its neighbours; the
    window adds their surroundings, fading with the distance (kept down to CONTEXT_FLOOR)."""
    radius = math.sqrt(float((mask > 0.5).sum()) / math.pi)
    sigma = max(1.0, factor * radius)
    yy, xx = torch.meshgrid(torch.arange(mask.shape[0]).float(), torch.arange(mask.shape[1]).float(), indexing="ij")
    g = torch.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma * sigma))
    return torch.maximum(mask.float().cpu(), g).to(mask.device)


def _weighted_median(v: torch.Tensor, w: torch.Tensor) -> float:
    order = torch.argsort(v)
    c = torch.cumsum(w[order], 0)
    return float(v[order][int(torch.searchsorted(c, c[-1] / 2))])


def _vote(ref_feat, kmask, tgt_feat, whole: MatchResult, f: float, part: tuple, st: MatchSettings, floor: float):
    """Point correspondences instead of one summed kernel: each point of the kernel (every sample,
    no stride) takes its most similar target position near where the whole-image similarity maps
    it, and the part centre is the weighted median of what those positions imply."""
    size = ref_feat.shape[-1]
    on = _placement(tgt_feat)
    ref_feat, kmask = on(ref_feat), on(kmask)
    offsets, weights, _, xs, ys, _ = kernel_points(kmask, size, floor)
    pts = torch.stack([xs, ys], 1).float()
    sim = rotation(on(whole.angle)) * whole.scale                                       # [2, 2]
    c0 = on([(whole.ref_centre[0] + 0.5) * f - 0.5, (whole.ref_centre[1] + 0.5) * f - 0.5])
    t0 = on([(whole.centre[0] + 0.5) * f - 0.5, (whole.centre[1] + 0.5) * f - 0.5])
    expected = t0 + (pts - c0) @ sim.t()                                               # [N, 2]
    kernel = ref_feat[:, ys, xs].t().float()
    dots = (kernel @ tgt_feat.reshape(tgt_feat.shape[0], -1).float()).view(-1, size, size)
    grid = _full_grid(1, size, tgt_feat.device)[0]                                      # [S, S, 2]
    d2 = ((grid[None] - expected[:, None, None, :]) ** 2).sum(-1)                       # [N, S, S]
    prior = ((expected[:, 0, None, None], expected[:, 1, None, None], st.prior_weight, st.prior_sigma * size,
              (st.prior_sigma_x or st.prior_sigma) * size) if st.prior_weight > 0 else None)
    score = dots - _penalty(grid[None], prior)
    score = score.masked_fill(d2 > (st.vote * size) ** 2, float("-inf"))
    idx = score.flatten(1).argmax(1)
    found = torch.stack([idx % size, idx // size], 1).float()
    votes = found + (on(part) - pts) @ sim.t()
    x, y = _weighted_median(votes[:, 0], weights), _weighted_median(votes[:, 1], weights)
    best = float(dots.flatten(1).gather(1, idx[:, None]).mean())
    return MatchResult(centre=(x, y), scale=whole.scale, angle=whole.angle, score=best, ref_centre=part,
                       grid_size=size)


def match_part(ref_feat: torch.Tensor, ref_mask: torch.Tensor, tgt_feat: torch.Tensor,
               settings: MatchSettings | None = None, on_step=None) -> MatchResult:
    """The paper's matcher, or (``settings.align``) the part search started from the whole-image
    match and held near the place it maps the part to by the position prior.

    With ``settings.context`` the kernel is the part's Gaussian context window; the result is
    re-anchored at the mask's centre either way."""
    st = settings or MatchSettings()
    _, _, part, _, _, _ = kernel_points(ref_mask.float(), st.kernel_span)
    kmask, floor = ((context_window(ref_mask, part, st.context), CONTEXT_FLOOR) if st.context > 0
                    else (ref_mask, 0.5))
    if not st.align:
        return reanchor(match_features(ref_feat, kmask, tgt_feat, st, on_step, floor=floor), part)
    size = ref_feat.shape[-1]
    whole = whole_image_match(ref_feat, tgt_feat, st)
    f = size / whole.grid_size
    to_coarse = lambda p: ((p[0] + 0.5) / f - 0.5, (p[1] + 0.5) / f - 0.5)  # noqa: E731
    if not st.part_search:
        ex, ey = reanchor(whole, to_coarse(part)).centre
        return replace(whole, centre=((ex + 0.5) * f - 0.5, (ey + 0.5) * f - 0.5), ref_centre=part, grid_size=size)
    if st.vote > 0:
        return _vote(ref_feat, kmask, tgt_feat, whole, f, part, st, floor)
    _, _, kc, _, _, _ = kernel_points(kmask.float(), st.kernel_span, floor)
    ex, ey = reanchor(whole, to_coarse(kc)).centre
    prior = ((ex + 0.5) * f - 0.5, (ey + 0.5) * f - 0.5, st.prior_weight, st.prior_sigma * size,
             (st.prior_sigma_x or st.prior_sigma) * size) if st.prior_weight > 0 else None
    starts = [(whole.scale * s, whole.angle + a) for s in st.part_scales for a in st.part_angles]
    m = match_features(ref_feat, kmask, tgt_feat, st, on_step, prior=prior, starts=starts, floor=floor)
    return reanchor(m, part)


def transfer_mask(ref_mask: torch.Tensor, match: MatchResult, size: int | None = None) -> torch.Tensor:
    """The reference mask [S, S] moved onto the target by the match (bilinear, at ``size``)."""
    return warp_to_target(ref_mask[None, None].float(), match, size or ref_mask.shape[-1])[0, 0].clamp(0, 1)


def warp_to_target(ref: torch.Tensor, match: MatchResult, size: int) -> torch.Tensor:
    """Resample reference-frame maps [B, C, size, size] into the target frame of the match.

    Target pixel x shows the reference at  c_s + T(alpha)^-1 (x - p0) / s.
    """
    (px, py), (cx, cy) = match.to_pixels(size)
    dev, dt = ref.device, ref.dtype
    coords = torch.arange(size, dtype=dt, device=dev)
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    d = torch.stack([gx - px, gy - py], -1) / match.scale                                   # [S, S, 2]
    inv = rotation(torch.tensor(match.angle, dtype=dt, device=dev)).transpose(0, 1)          # T^-1 = T^T
    src = torch.einsum("ij,hwj->hwi", inv, d) + torch.tensor([cx, cy], dtype=dt, device=dev)
    grid = (src + 0.5) * (2.0 / size) - 1.0
    return F.grid_sample(ref, grid[None].expand(ref.shape[0], -1, -1, -1), mode="bilinear",
                         padding_mode="zeros", align_corners=False)


def default_match_layers(generator) -> list[str]:
    """The 3rd, 4th and 5th synthesis block outputs (clamped to what exists). The paper takes the
    3rd and 5th; the 4th adds part detail between them (issue 16: b16, b32, b64 on 64 px)."""
    blocks = [l.name for l in generator.layers() if l.kind == "block"]
    picks = [blocks[min(i, len(blocks) - 1)] for i in (2, 3, 4)]
    return list(dict.fromkeys(picks))


RGB_TAP = "rgb"          # the image, usable as a tap (e.g. in refine_taps)


@torch.no_grad()
def extract_taps(generator, latents, layers: list[str], noise_free: bool = False) -> dict:
    """Raw outputs {name: [B, C, h, w]} of the chosen layers for latents' images (StyleGAN2 or StyleMapGAN).

    ``noise_free``: the per-pixel noise inputs off. A checkpoint's constant noise is one pattern at
    the same pixels of every image, so it makes features of two faces alike where they share
    pixel positions rather than parts, which pulls a match back to where the part was.
    The name ``RGB_TAP`` among ``layers`` asks for the image itself [B, 3, H, W]."""
    want_img = RGB_TAP in layers
    layers = [name for name in layers if name != RGB_TAP]
    if getattr(generator, "latent_kind", "ws") == "stylemap":
        img, feats = generator.synthesis(latents.stylemap_for(generator), taps=layers)
    else:
        styles = latents.styles_for(generator)
        noise = {"noise_mode": "none"} if noise_free else {"noise": latents.noise_for(generator)}
        img, feats = generator.synthesis_from_styles(styles, taps=layers, return_image=want_img, **noise)
    return {**feats, RGB_TAP: img} if want_img else feats


@torch.no_grad()
def extract_match_features(generator, latents, layers: list[str], size: int) -> torch.Tensor:
    """Normalised concatenated features [B, C, size, size] of latents' images."""
    feats = extract_taps(generator, latents, layers)
    return normalise_features([feats[name] for name in layers], size)


def match_grid_size(generator, layers: list[str]) -> int:
    """The finest chosen map's own grid: up-sampling features further adds no information."""
    res = {l.name: l.resolution for l in generator.layers()}
    return min(128, max(res.get(name, generator.resolution) for name in layers))


def _resized_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A MASK [H, W] or [1, H, W] of any resolution as [size, size] (bilinear)."""
    m = mask.float()
    if m.ndim == 3:
        m = m[0]
    return F.interpolate(m[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0]


def _channel_stats(*maps: torch.Tensor):
    """Per-channel mean and std [1, C, 1, 1] over the positions of maps [1, C, h, w]."""
    both = torch.cat([m.float() for m in maps], 0)
    return both.mean((0, 2, 3), keepdim=True), both.std((0, 2, 3), keepdim=True).clamp_min(1e-6)


def match_taps(ref_taps: dict, tgt_taps: dict, ref_mask: torch.Tensor, layers: list[str], size: int,
               settings: MatchSettings | None = None, on_step=None, catalog=None, stats: dict | None = None
               ) -> MatchResult:
    """The match from raw layer outputs {name: [1, C, h, w]} of the reference and the target.

    ``ref_mask`` [H, W] at any resolution (resized to the match grid). ``stats`` {name: (mean, std)
    [1, C, 1, 1]}: whitening statistics to use instead of the pair's own (e.g. over many samples)."""
    st = settings or MatchSettings()
    use = catalog is not None and st.membership_weight > 0
    weights = list(st.tap_weights or [1.0] * len(layers)) + ([st.membership_weight] if use else [])
    if st.whiten:
        stats = stats or {name: _channel_stats(ref_taps[name], tgt_taps[name]) for name in layers}
    else:
        stats = {}

    def features(taps):
        maps = [(taps[name] - stats[name][0]) / stats[name][1] if stats else taps[name] for name in layers]
        if use:
            from .catalog import soft_memberships
            maps.append(soft_memberships(catalog, taps[catalog.layer], st.membership_temperature))
        return normalise_features(maps, size, weights)[0]
    ref, tgt = features(ref_taps), features(tgt_taps)
    grid_mask = _resized_mask(ref_mask, size)
    match = match_part(ref, grid_mask, tgt, st, on_step)
    return _refine(ref_taps, tgt_taps, grid_mask, match, st) if st.refine_taps else match


def _refine(ref_taps: dict, tgt_taps: dict, grid_mask: torch.Tensor, match: MatchResult, st: MatchSettings):
    """The match's centre searched again in ``st.refine_taps`` (see match_refine)."""
    from .match_refine import refine_centre
    size = grid_mask.shape[-1]
    names = list(st.refine_taps)
    stats = {n: _channel_stats(ref_taps[n], tgt_taps[n]) for n in names}

    def maps(taps):     # whitened, each tap scaled to the same total energy whatever its channel count
        return torch.cat([F.interpolate(((taps[n] - stats[n][0]) / stats[n][1]).float(), size=(size, size),
                                        mode="bilinear", align_corners=False) / math.sqrt(taps[n].shape[1])
                          for n in names], 1)[0]
    kmask, floor = ((context_window(grid_mask, match.ref_centre, st.refine_context), CONTEXT_FLOOR)
                    if st.refine_context > 0 else (grid_mask, 0.5))
    prior = ((st.refine_prior, st.prior_sigma * size, (st.prior_sigma_x or st.prior_sigma) * size)
             if st.refine_prior > 0 else None)
    return refine_centre(maps(ref_taps), maps(tgt_taps), kmask, match, st.refine_window, st.refine_ncc, floor, prior)


def detect_roi(generator, target, reference, ref_mask: torch.Tensor, layers: list[str] | None = None,
               size: int | None = None, settings: MatchSettings | None = None, on_step=None, catalog=None):
    """Find where the reference's masked part belongs in the target.

    ``ref_mask`` [H, W] at any resolution (resized to the match grid). Returns the match
    and the target mask at the generator's resolution. A ``catalog`` of the generator adds its
    soft cluster memberships to the features when the settings give them a weight.
    """
    if target.batch_size != 1 or reference.batch_size != 1:
        raise ValueError("deformable matching takes one target and one reference latent")
    layers = layers or default_match_layers(generator)
    size = size or match_grid_size(generator, layers)
    st = settings or MatchSettings()
    if catalog is not None:
        catalog.check_generator(generator)
    names = list(dict.fromkeys(layers + list(st.refine_taps)
                               + ([catalog.layer] if catalog is not None and st.membership_weight > 0 else [])))
    from ..latents import Latents
    # one batched synthesis when the two can share a batch; an inverted photo (fitted noise maps)
    # and a sampled face (the checkpoint's noise) cannot, so they are synthesised one by one
    batchable = (target.ws is not None and reference.ws is not None
                 and (st.noise_free or set(target.noise or ()) == set(reference.noise or ())))
    if batchable:
        both = extract_taps(generator, Latents.concat([target, reference]), names, st.noise_free)
        tgt, ref = ({k: v[i:i + 1] for k, v in both.items()} for i in (0, 1))
    else:
        tgt, ref = (extract_taps(generator, x, names, st.noise_free) for x in (target, reference))
    match = match_taps(ref, tgt, ref_mask, layers, size, st, on_step, catalog)
    return match, transfer_mask(_resized_mask(ref_mask, generator.resolution), match, generator.resolution)
