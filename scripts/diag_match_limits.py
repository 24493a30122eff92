"""Issue 16, fourth round: how far the landmark protocol can go, and three more ways to find the nose.

Sections (each prints one table; errors in % of the image size, 1 px = 1.56 %):
  stability  FaceMesh on the same face changed in ways that do not move its parts: the noise inputs
             off, the image rolled 2 px, the image mirrored (and the landmarks mirrored back).
  warp       the warped targets: the aligned target's landmark moved by the KNOWN warp, against the
             landmark FaceMesh finds on the warped re-render (the later layers redraw the details),
             and on the aligned image warped as an image (nothing redrawn).
  path       FaceMesh along a straight W path from the reference to the aligned target (9 frames):
             does the part move smoothly? Then each part is tracked frame to frame by local matching
             (the motion per frame is small) in whitened taps or pixels, against not moving.
  refine     two refinements of the default match: the local mirror-symmetry axis of the image (a
             nose tip sits on it; every part), and the local centroid of the catalog cluster the
             reference's nose tip belongs to (the nose).

Evaluation only (MediaPipe), with a cache of scripts/eval_match_landmarks.py that holds the images
(scripts/cache_add_images.py):

    /work/venv-eval/bin/python scripts/diag_match_limits.py --cache /tmp/i16c_img200.pt --pairs 100
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402
from _face_reference import FaceReference, to_uint8  # noqa: E402

load_pack()
from eval_match_landmarks import PARTS, random_warps, warp_state  # noqa: E402
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.catalog import soft_memberships  # noqa: E402
from gan_local_edit.core.ops.deformable_match import _channel_stats, match_taps, rotation  # noqa: E402
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402
from gan_local_edit.core.ops.match_eval import disc_mask  # noqa: E402
from gan_local_edit.core.ops.match_methods import MATCH_METHODS  # noqa: E402

MIRROR = {"eye_a": "eye_b", "eye_b": "eye_a"}


def dist(a, b, size: int) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1]) / size * 100


def row(name: str, errs: dict) -> str:
    cells = []
    for part in PARTS:
        e = np.array([v for v in errs[part] if not math.isnan(v)])
        cells.append(f"{e.mean():.2f} ({100 * (e <= 3).mean():.0f} %)" if len(e) else "-")
    return f"| {name} | " + " | ".join(cells) + " |"


def header(title: str):
    print(f"\n## {title}\n| | " + " | ".join(PARTS) + " |\n|---|" + "---|" * len(PARTS))


class Ctx:
    def __init__(self, args):
        self.g = load_embedded_generator(device="cpu")
        self.size = self.g.resolution
        self.face = FaceReference()
        self.data = torch.load(args.cache, weights_only=True)
        total = len(self.data["ref"])
        self.n = min(args.pairs, total)
        self.refs = sample_latents(self.g, 3000, total, 0.7)
        self.tgts = sample_latents(self.g, 4000, total, 0.7)
        self.warps = random_warps(total, 5)      # the cache's warps depend on its pair count
        self.settings, self.layers = MATCH_METHODS["default"]
        self._matches = {}

    def centres(self, img: torch.Tensor) -> dict:
        return self.face.part_centres(self.face.landmarks(to_uint8(img)))

    def cached(self, kind: str, i: int, part: str):
        c = self.data[kind][i][1][part].numpy()[0]
        return None if np.isnan(c).any() else c

    def default_match(self, kind: str, i: int, part: str):
        """The default matcher's match of pair i's reference part (its landmark's 6 % circle) in
        the target ``kind``; kept, as the warp and refine sections both need it."""
        key = (kind, i, part)
        if key not in self._matches:
            r = self.cached("ref", i, part)
            self._matches[key] = match_taps(self.data["ref"][i][0], self.data[kind][i][0],
                                            disc_mask(self.size, *r, 0.06 * self.size), self.layers, self.size,
                                            self.settings)
        return self._matches[key]

    def forward_warp(self, q, i: int):
        """Where a point of the aligned target lands under pair i's known warp (see warp_state)."""
        s, a, tx, ty = self.warps[i]
        c = (self.size - 1) / 2
        return c + s * rotation(torch.tensor(a)).numpy() @ (np.asarray(q) - c) + np.array([tx, ty]) * self.size


@torch.no_grad()
def stability(ctx: Ctx):
    errs = {name: {p: [] for p in PARTS} for name in ("noise inputs off", "rolled 2 px", "mirrored")}
    for i in range(ctx.n):
        styles = ctx.g.styles(ctx.refs.ws[i:i + 1])
        img = ctx.g.synthesis_from_styles(styles, noise_mode="const")
        base = ctx.centres(img)
        quiet = ctx.centres(ctx.g.synthesis_from_styles(styles, noise_mode="none"))
        rolled = ctx.centres(torch.roll(img, 2, -1))
        mirrored = ctx.centres(img.flip(-1))
        for p in PARTS:
            b = base[p][0]
            m = mirrored[MIRROR.get(p, p)][0].copy()
            m[0] = ctx.size - 1 - m[0]
            r = rolled[p][0] - np.array([2.0, 0.0])
            errs["noise inputs off"][p].append(dist(b, quiet[p][0], ctx.size))
            errs["rolled 2 px"][p].append(dist(b, r, ctx.size))
            errs["mirrored"][p].append(dist(b, m, ctx.size))
    header(f"stability: FaceMesh moves a part this far on the same face ({ctx.n} references; mean (within 3 %))")
    for name, e in errs.items():
        print(row(name, e))


@torch.no_grad()
def warp(ctx: Ctx):
    errs = {name: {p: [] for p in PARTS} for name in (
        "known warp of the aligned landmark vs the re-render's landmark (a perfect tracker of the warp)",
        "known warp of the aligned landmark vs the landmark of the image warped as an image",
        "default matcher on the re-render (for comparison)")}
    keys = list(errs)
    for i in range(ctx.n):
        img = warp_state(ctx.data["aligned"][i][0]["rgb"].float(), *ctx.warps[i])
        as_image = ctx.centres(img)
        for p in PARTS:
            a, t, r = ctx.cached("aligned", i, p), ctx.cached("warped", i, p), ctx.cached("ref", i, p)
            if a is None or t is None or r is None:
                continue
            moved = ctx.forward_warp(a, i)
            errs[keys[0]][p].append(dist(moved, t, ctx.size))
            errs[keys[1]][p].append(dist(moved, as_image[p][0], ctx.size))
            errs[keys[2]][p].append(dist(ctx.default_match("warped", i, p).to_pixels(ctx.size)[0], t, ctx.size))
    header(f"warp: the warped targets' landmarks ({ctx.n} pairs; mean (within 3 %))")
    for name, e in errs.items():
        print(row(name, e))


def _whitened(maps: torch.Tensor, size: int) -> torch.Tensor:
    """[2, C, h, w] -> unit vectors per position [2, C, size, size], channels whitened over the two."""
    mean, std = _channel_stats(maps[0:1], maps[1:2])
    m = (maps.float() - mean) / std
    return F.normalize(F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False), dim=1)


def _sample(fm: torch.Tensor, pts: torch.Tensor, size: int) -> torch.Tensor:
    """fm [1, C, S, S] at pixel positions pts [..., 2] -> [C, ...]."""
    grid = ((pts.reshape(1, -1, 1, 2) + 0.5) * (2.0 / size) - 1.0)
    return F.grid_sample(fm, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, :, 0].view(
        -1, *pts.shape[:-1])


def track(frames: dict, taps: tuple, start, size: int, radius: float = 3.8, search: float = 2.0, step: float = 0.25):
    """Follow a point through consecutive frames: each step takes the shift (+-search px) that best
    matches a Gaussian window (sigma = radius) around it."""
    p = torch.tensor(start, dtype=torch.float32)
    r = int(math.ceil(2 * radius))
    k = torch.arange(-r, r + 1.0)
    off = torch.stack(torch.meshgrid(k, k, indexing="xy"), -1).view(-1, 2)
    w = torch.exp(-(off ** 2).sum(1) / (2 * radius ** 2))
    s = torch.arange(-search, search + 1e-6, step)
    shifts = torch.stack(torch.meshgrid(s, s, indexing="xy"), -1).view(-1, 2)
    for f in range(next(iter(frames.values())).shape[0] - 1):
        pair = torch.cat([_whitened(frames[t][f:f + 2], size) for t in taps], 1)
        a = _sample(pair[0:1], p + off, size)
        b = _sample(pair[1:2], p + off[None] + shifts[:, None], size)
        p = p + shifts[int(((a[:, None] * b).sum(0) @ w).argmax())]
    return p.numpy()


TRACKERS = {"taps b32 + b64": ("b32", "b64"), "tap b64 + image": ("b64", "rgb"), "image": ("rgb",)}


@torch.no_grad()
def path(ctx: Ctx, steps: int = 8):
    keys = ["FaceMesh: mean distance from the straight line start-end", "FaceMesh: start to end (= not moving)"]
    errs = {name: {p: [] for p in PARTS} for name in keys + [f"tracked in {t}" for t in TRACKERS]}
    t = torch.linspace(0, 1, steps + 1)[:, None, None]
    check = {name: [] for name in TRACKERS}
    for i in range(ctx.n):
        ws = (1 - t) * ctx.refs.ws[i:i + 1] + t * ctx.tgts.ws[i:i + 1]
        img, feats = ctx.g.synthesis_from_styles(ctx.g.styles(ws), taps=["b32", "b64"], noise_mode="const")
        feats["rgb"] = img
        lms = [ctx.centres(img[k:k + 1]) for k in range(steps + 1)]
        for p in PARTS:
            xs = np.array([lm[p][0] for lm in lms])
            if np.isnan(xs).any():
                continue
            line = xs[0] + (xs[-1] - xs[0]) * np.linspace(0, 1, steps + 1)[:, None]
            errs[keys[0]][p].append(float(np.hypot(*(xs - line).T).mean()) / ctx.size * 100)
            errs[keys[1]][p].append(dist(xs[0], xs[-1], ctx.size))
            for name, taps in TRACKERS.items():
                errs[f"tracked in {name}"][p].append(dist(track(feats, taps, xs[0], ctx.size), xs[-1], ctx.size))
        if i < 20:      # the trackers' own check: the reference image rolled 1/2 px per frame (4 px in all)
            rolled = {k: torch.stack([torch.roll(v[0], f // 2, -1) for f in range(steps + 1)]) for k, v in feats.items()}
            for p in PARTS:
                start = lms[0][p][0]
                if np.isnan(start).any():
                    continue
                for name, taps in TRACKERS.items():
                    end = track(rolled, taps, start, ctx.size)
                    check[name].append(dist(end, start + np.array([steps // 2, 0.0]), ctx.size))
    header(f"path: {steps + 1} frames on the straight W path reference -> aligned target, checkpoint noise "
           f"({ctx.n} pairs; the landmarks of the first and last frame; mean (within 3 %))")
    for name, e in errs.items():
        print(row(name, e))
    print("the trackers' own check: the first 20 references' frame 0 rolled 1/2 px per frame (4 px in all), every "
          "part tracked; mean error in px: " + "; ".join(f"{n} {np.mean(v) * ctx.size / 100:.2f}" for n, v in check.items()))


def symmetry_axis(img: torch.Tensor, centre, angle: float, size: int, half: int = 4, search: float = 2.0):
    """The point within +-search px (along the match's horizontal) where the image is most nearly
    mirror-symmetric over a (2 half) x (half + 1) window."""
    xs = torch.arange(-search, search + 1e-6, 0.25)
    rot = rotation(torch.tensor(float(angle)))
    dx, dy = torch.arange(1, half + 1.0), torch.arange(-(half // 2), half // 2 + 1.0)
    gy, gx = torch.meshgrid(dy, dx, indexing="ij")
    off = torch.stack([gx, gy], -1).view(-1, 2)
    w = torch.exp(-(off ** 2).sum(1) / (2 * (half / 1.5) ** 2))
    axis = torch.stack([xs, torch.zeros_like(xs)], -1) @ rot.t() + torch.tensor(centre, dtype=torch.float32)
    right = _sample(img, axis[:, None] + (off @ rot.t())[None], size)
    left = _sample(img, axis[:, None] + ((off * torch.tensor([-1.0, 1.0])) @ rot.t())[None], size)
    return axis[int((((right - left) ** 2).sum(0) @ w).argmin())].numpy()


def cluster_centroid(ctx: Ctx, catalog, kind: str, i: int, ref_point, match) -> np.ndarray:
    """The match moved by how far the local centroid (radius 5 px) of the catalog cluster the
    reference point belongs to sits from the point, that offset carried into the target."""
    size = ctx.size
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")

    def memberships(which):
        m = soft_memberships(catalog, ctx.data[which][i][0][catalog.layer], 10.0)
        return F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False)[0]

    def centroid(m, c):
        w = m * (((xx - c[0]) ** 2 + (yy - c[1]) ** 2) <= 25)
        return np.array([float((w * xx).sum() / w.sum()), float((w * yy).sum() / w.sum())])
    mr, mt = memberships("ref"), memberships(kind)
    k = int(mr[:, int(round(ref_point[1])), int(round(ref_point[0]))].argmax())
    (x, y), _ = match.to_pixels(size)
    return centroid(mt[k], (x, y)) + (np.asarray(ref_point) - centroid(mr[k], ref_point)) * match.scale


def refine(ctx: Ctx):
    """The default match of every part, then moved to the image's mirror-symmetry axis; for the nose
    also to the catalog cluster's local centroid."""
    catalog = load_embedded_catalog(ctx.g)
    names = ["default matcher", "+ the image's mirror-symmetry axis (+-2 px)",
             "+ the catalog cluster's local centroid (nose only)"]
    errs = {kind: {n: {p: [] for p in PARTS} for n in names} for kind in ("aligned", "warped")}
    for kind in errs:
        for i in range(ctx.n):
            img = ctx.data[kind][i][0]["rgb"].float()
            for part in PARTS:
                r, t = ctx.cached("ref", i, part), ctx.cached(kind, i, part)
                if r is None or t is None:
                    continue
                m = ctx.default_match(kind, i, part)
                found = m.to_pixels(ctx.size)[0]
                errs[kind][names[0]][part].append(dist(found, t, ctx.size))
                errs[kind][names[1]][part].append(dist(symmetry_axis(img, found, m.angle, ctx.size), t, ctx.size))
                errs[kind][names[2]][part].append(dist(cluster_centroid(ctx, catalog, kind, i, r, m), t, ctx.size)
                                                  if part == "nose" else math.nan)
    for kind, by_name in errs.items():
        header(f"refine, {kind} targets: refinements of the default match ({ctx.n} pairs; mean (within 3 %))")
        for name, e in by_name.items():
            print(row(name, e))


SECTIONS = {"stability": stability, "warp": warp, "path": path, "refine": refine}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", required=True, help="a cache of eval_match_landmarks.py with images (cache_add_images.py)")
    p.add_argument("--pairs", type=int, default=100)
    p.add_argument("--sections", default=",".join(SECTIONS))
    add_common_args(p, out=False).set_defaults(threads=2)
    args = apply_common_args(p.parse_args(argv))
    ctx = Ctx(args)
    print(f"{ctx.n} pairs of the cache (references seed 3000, targets seed 4000, truncation 0.7); "
          f"1 px = {100 / ctx.size:.2f} %")
    for name in filter(None, args.sections.split(",")):
        SECTIONS[name](ctx)


if __name__ == "__main__":
    main()
