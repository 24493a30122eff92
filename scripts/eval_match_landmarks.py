"""Deformable Match on real face landmarks (the paper's Table 1 protocol, issue 16).

For each pair (reference, target) and part, a circle of radius 6 % of the image is put around
the reference's landmark (MediaPipe FaceMesh: iris centres 468 / 473, nose tip 1, lip centre
13/14); the error is the distance from the detected ROI centre to the same landmark found on
the target, in % of the image size. Beside every number: the error of NOT moving the circle.

Two target kinds:
- aligned: the target face as generated;
- warped: the target re-rendered after a known similarity warp (scale 0.8-1.25, +-15 deg,
  shifts up to 10 %) of its 16x16 state (features and running RGB together), so the later
  layers redraw the details; its landmarks are detected on the warped image itself.

Evaluation only: needs ``pip install -r requirements-eval.txt`` (mediapipe); run it with that
interpreter, e.g.  /work/venv-eval/bin/python scripts/eval_match_landmarks.py --pairs 200
``--methods`` names settings of MATCH_METHODS (core/ops/match_methods.py, comma separated) compared
on the same pairs, or ``oracle<percent>``: no matcher, the landmark moved like the landmarks near it.
The cache keeps all 478 landmarks and, for ``noise_free`` settings, taps rendered without noise.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402
from _face_reference import FaceReference, to_uint8  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.deformable_match import match_grid_size, match_taps  # noqa: E402
from gan_local_edit.core.ops.match_methods import MATCH_METHODS  # noqa: E402
from gan_local_edit.core.ops.deformable_match import rotation  # noqa: E402
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402
from gan_local_edit.core.ops.match_eval import disc_mask  # noqa: E402

PARTS = ("eye_a", "eye_b", "nose", "mouth")
WARP_AT = "b16.torgb"      # the state after the 16x16 block and its RGB is warped
ALL_TAPS = ("b16", "b32.conv1", "b32", "b64")


def random_warps(count: int, seed: int):
    """(scale, angle deg, shift x, shift y as a fraction of the image) per pair."""
    rng = np.random.default_rng(seed)
    s = np.exp(rng.uniform(math.log(0.8), math.log(1.25), count))
    a = rng.uniform(-15, 15, count)
    t = rng.uniform(-0.1, 0.1, (count, 2))
    return [(float(s[i]), float(a[i]), float(t[i, 0]), float(t[i, 1])) for i in range(count)]


def warp_state(x: torch.Tensor, scale: float, angle: float, tx: float, ty: float) -> torch.Tensor:
    """Target point p shows the source at T(alpha)^-1 (p - c - t) / s + c (centre c, y down)."""
    inv = rotation(torch.tensor(angle)).t() / scale                       # [2, 2] for (x, y)
    shift = torch.tensor([tx, ty]) * 2                                   # fraction of the image -> [-1, 1] units
    theta = torch.cat([inv, (-inv @ shift)[:, None]], 1)[None].expand(x.shape[0], -1, -1)
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


NOISE_FREE = "nf:"          # cache keys of the taps rendered with the noise inputs off


@torch.no_grad()
def render_with_taps(g, latents, warp=None, noise_mode="const"):
    """(image [1, 3, H, W], {tap: [1, C, h, w]}) of one latent, its 16x16 state warped when given."""
    styles = latents.styles_for(g)
    if warp is None:
        img, feats = g.synthesis_from_styles(styles, taps=list(ALL_TAPS), noise_mode=noise_mode)
        return img, feats
    state, _ = g.synthesis_partial(styles, until=WARP_AT, noise_mode=noise_mode)
    state.x = warp_state(state.x, *warp)
    state.img = warp_state(state.img, *warp)
    img, feats = g.synthesis_from_styles(styles, taps=[t for t in ALL_TAPS if t != "b16"], resume=state,
                                         noise_mode=noise_mode)
    feats["b16"] = state.x
    return img, feats


def collect(g, face, pairs: int):
    """Images' taps and landmarks of every pair: reference, aligned target, warped target."""
    refs, tgts = sample_latents(g, 3000, pairs, 0.7), sample_latents(g, 4000, pairs, 0.7)
    warps = random_warps(pairs, 5)
    data = {"ref": [], "aligned": [], "warped": []}
    for i in range(pairs):
        for kind, lat, warp in (("ref", refs.select(i), None), ("aligned", tgts.select(i), None),
                                ("warped", tgts.select(i), warps[i])):
            img, feats = render_with_taps(g, lat, warp)
            _, quiet = render_with_taps(g, lat, warp, noise_mode="none")     # for settings with noise_free
            feats.update({NOISE_FREE + k: v for k, v in quiet.items()})
            lm = face.landmarks(to_uint8(img))
            data[kind].append((feats, {**face.part_centres(lm), "landmarks": lm[0]}))   # all 478 kept
    return data


def oracle(rc: dict, tc: dict, part: str, size: int, radius: float):
    """Where the part goes if it moved like the FaceMesh landmarks within ``radius`` (of the image)
    of it on the reference: the reference landmark plus their mean displacement."""
    r, lr, lt = rc[part][0], rc["landmarks"], tc["landmarks"]
    near = np.hypot(*(lr - r).T) <= radius * size
    return r + (lt[near] - lr[near]).mean(0)


def evaluate(g, data, method: str, catalog, stats=None):
    """kind -> part -> (errors, no-move errors) over the pairs where both faces were found.

    ``method``: a name of MATCH_METHODS, or ``oracle<percent>`` (see ``oracle``)."""
    size = g.resolution
    settings, layers = MATCH_METHODS.get(method, (None, ["b64"]))
    grid = match_grid_size(g, layers)
    out, t_match, n_match = {}, 0.0, 0
    for kind in ("aligned", "warped"):
        out[kind] = {p: ([], []) for p in PARTS}
        for (rf, rc), (tf, tc) in zip(data["ref"], data[kind]):
            if settings is not None and settings.noise_free:
                rf, tf = ({k[len(NOISE_FREE):]: v for k, v in f.items() if k.startswith(NOISE_FREE)} for f in (rf, tf))
            for part in PARTS:
                r, t = rc[part][0], tc[part][0]
                if np.isnan(r).any() or np.isnan(t).any():
                    continue
                if method.startswith("oracle"):
                    x, y = oracle(rc, tc, part, size, float(method[6:]) / 100)
                else:
                    mask = disc_mask(size, float(r[0]), float(r[1]), 0.06 * size)
                    t0 = time.perf_counter()
                    match = match_taps(rf, tf, mask, layers, grid, settings, catalog=catalog, stats=stats)
                    t_match += time.perf_counter() - t0
                    n_match += 1
                    (x, y), _ = match.to_pixels(size)
                out[kind][part][0].append(math.hypot(x - t[0], y - t[1]) / size * 100)
                out[kind][part][1].append(math.hypot(r[0] - t[0], r[1] - t[1]) / size * 100)
    return out, t_match / max(n_match, 1)


def report(method: str, res, per_match: float, pairs: int):
    if method.startswith("oracle"):
        print(f"\n### `{method}`: no matcher; the reference landmark moved by the mean displacement of the "
              f"FaceMesh landmarks within {method[6:]} % of it (how well landmarks near the part predict it)")
    else:
        settings, layers = MATCH_METHODS[method]
        print(f"\n### method `{method}`: taps {', '.join(layers)}; {settings.describe()}; "
              f"matching {1000 * per_match:.0f} ms per part (features given)")
    print("| target | part | pairs | error mean ± std (%) | within 3 % | no move: mean (%) | no move within 3 % "
          "| error / no move |\n|---|---|---|---|---|---|---|---|")
    for kind, parts in res.items():
        for part, (err, base) in parts.items():
            e, b = np.array(err), np.array(base)
            print(f"| {kind} | {part} | {len(e)} | {e.mean():.2f} ± {e.std():.2f} | {100 * (e <= 3).mean():.0f} % "
                  f"| {b.mean():.2f} | {100 * (b <= 3).mean():.0f} % | {e.mean() / b.mean():.2f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--methods", default="default,paper")
    p.add_argument("--first", type=int, default=0, help="evaluate only the first N pairs (0: all)")
    p.add_argument("--sample-stats", type=int, default=0,
                   help="whiten with per-channel statistics over the taps of the last N references of the "
                        "cache (not evaluated when --first leaves them out) instead of each pair's own")
    p.add_argument("--cache", default="", help="file keeping the pairs' taps and landmarks between runs "
                   "(our own file, read with weights_only=True)")
    add_common_args(p, out=False).set_defaults(threads=1)   # small problems: more threads only add overhead
    args = apply_common_args(p.parse_args(argv))
    g = load_embedded_generator(device="cpu")
    catalog = load_embedded_catalog(g)
    t0 = time.time()
    if args.cache and os.path.exists(args.cache):
        data = torch.load(args.cache, weights_only=True)
        data = {k: [(f, {p: c.numpy() for p, c in cs.items()}) for f, cs in v] for k, v in data.items()}
    else:
        data = collect(g, FaceReference(), args.pairs)
        if args.cache:
            torch.save({k: [(f, {p: torch.from_numpy(c) for p, c in cs.items()}) for f, cs in v]
                        for k, v in data.items()}, args.cache)
    stats = None
    if args.sample_stats:
        from gan_local_edit.core.ops.deformable_match import _channel_stats
        last = [f for f, _ in data["ref"][-args.sample_stats:]]
        stats = {t: _channel_stats(*[f[t] for f in last]) for t in ALL_TAPS}
        print(f"whitening statistics: the taps of the last {args.sample_stats} references")
    if args.first:
        data = {k: v[:args.first] for k, v in data.items()}
        args.pairs = args.first
    found = {k: sum(not np.isnan(c["nose"]).any() for _, c in v) for k, v in data.items()}
    print(f"{args.pairs} pairs (references: seed 3000, targets: seed 4000, truncation 0.7); faces found by "
          f"FaceMesh: {found}; circle radius 6 % of {g.resolution} px; errors in % of the image size "
          f"(1 px = {100 / g.resolution:.2f} %); eye_a / eye_b = iris 468 / 473; mouth = mean of 13, 14 "
          f"(collected in {time.time() - t0:.0f} s)")
    for method in filter(None, args.methods.split(",")):
        res, per = evaluate(g, data, method, catalog, stats)
        report(method, res, per, args.pairs)


if __name__ == "__main__":
    main()
