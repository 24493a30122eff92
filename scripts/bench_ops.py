"""Speed of the optimisation-based operations on the embedded model (CPU, ratios in one run).

Reference costs, batch size 1: one generator forward (mapping + synthesis, no grad) and one
forward+backward (synthesis of W+ codes that require grad, mean of the image, backward).
Measured against them:
- ROI detection for one pair (features of both images + matching, default settings), the
  matching alone (features given) and the features alone (both images, one batch);
- one latent-paste step, and one projection step (1 start) — per-step costs are the
  difference between a 40-step and a 20-step run divided by 20, so set-up cancels out;
- a projection with 4 starts per step vs 1 start;
- ROI detection on the 256x256 StyleGAN2 layout of bench_stylegan2.py (random weights: the
  cost, not the answer, is measured), where a forward costs what it costs on real checkpoints.
Medians of repeated runs.

    python scripts/bench_ops.py [--repeats 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.deformable_match import (default_match_layers, detect_roi,  # noqa: E402
                                                      extract_match_features, match_features)
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.invert import InvertSettings, invert  # noqa: E402
from gan_local_edit.core.latents import Latents  # noqa: E402
from gan_local_edit.core.ops.latent_paste import PasteSettings, paste  # noqa: E402


def median_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    args = apply_common_args(add_common_args(p, out=False).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(0))
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    mask = (((xx - 32) ** 2 + (yy - 46) ** 2) <= 36).float()
    reps = args.repeats

    def forward():
        with torch.no_grad():
            g.synthesis(g.mapping(z, truncation_psi=0.7))

    ws = t.ws.clone()

    def forward_backward():
        w = ws.clone().requires_grad_(True)
        g.synthesis(w).mean().backward()

    layers = default_match_layers(g)
    feats = extract_match_features(g, sample_latents(g, 1, 1, 0.7), layers, 64)[0], \
        extract_match_features(g, r, layers, 64)[0]
    m64 = mask

    fwd = median_time(forward, 10 * reps)
    fwdbwd = median_time(forward_backward, 10 * reps)
    roi = median_time(lambda: detect_roi(g, t, r, mask), reps)
    only = median_time(lambda: match_features(feats[1], m64, feats[0]), reps)
    both = Latents.concat([t, r])
    synth = median_time(lambda: extract_match_features(g, both, layers, 64), 10 * reps)
    print(f"one forward {1000 * fwd:.1f} ms; one forward+backward {1000 * fwdbwd:.1f} ms (batch 1)")
    print(f"ROI detection for one pair: {1000 * roi:.0f} ms = {roi / fwd:.1f}x one forward "
          f"(matching alone, features given: {1000 * only:.0f} ms = {only / fwd:.1f}x; the features of the "
          f"two images alone, {', '.join(layers)}: {1000 * synth:.0f} ms = {synth / fwd:.1f}x)")

    match, _ = detect_roi(g, t, r, mask)

    def paste_run(steps):
        return lambda: paste(g, t, r, mask, match, PasteSettings(steps=steps, preview_every=10 ** 6))

    p_step = (median_time(paste_run(40), reps) - median_time(paste_run(20), reps)) / 20
    print(f"one paste step: {1000 * p_step:.1f} ms = {p_step / fwdbwd:.2f}x one forward+backward (target <= 1.3)")

    img = render(g, sample_latents(g, 9, 1, 0.7))

    def inv_run(steps, starts):
        return lambda: invert(g, img, InvertSettings(steps=steps, starts=starts, preview_every=10 ** 6))

    i1 = (median_time(inv_run(40, 1), reps) - median_time(inv_run(20, 1), reps)) / 20
    i4 = (median_time(inv_run(40, 4), reps) - median_time(inv_run(20, 4), reps)) / 20
    print(f"one projection step (1 start): {1000 * i1:.1f} ms = {i1 / fwdbwd:.2f}x one forward+backward "
          f"(target <= 1.3)")
    print(f"one projection step with 4 starts: {1000 * i4:.1f} ms = {i4 / i1:.2f}x one start (target <= 2.5)")
    roi_on_256(reps)


def roi_on_256(reps):
    from bench_stylegan2 import build
    g = build()
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    mask = (((xx - 128) ** 2 + (yy - 184) ** 2) <= 15.0 ** 2).float()
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(0))

    def forward():
        with torch.no_grad():
            g.synthesis(g.mapping(z, truncation_psi=0.7))

    fwd = median_time(forward, reps)
    roi = median_time(lambda: detect_roi(g, t, r, mask), reps)
    print(f"256x256 layout: one forward {1000 * fwd:.0f} ms; ROI detection for one pair {1000 * roi:.0f} ms "
          f"= {roi / fwd:.2f}x one forward (target <= 1)")


if __name__ == "__main__":
    main()
