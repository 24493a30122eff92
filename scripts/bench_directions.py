"""Speed of LELSD learning and traversal (CPU, one run).

- one training batch (batch 4: no-grad forward of the originals with the catalog-layer masks,
  forward + backward of the edits, Adam step) vs the forward + backward of the edited batch
  alone, and vs that plus the no-grad forward of the originals (the two passes the loss needs);
- seconds per direction with the reference schedule (200 batches) on faces64, and the same
  measured on a random 256x256 StyleGAN2 (channel multiplier 2) with a fixed mask;
- traversal of 8 strengths: one batched forward vs 8 single forwards.
Medians over the timed batches (the first ``--warmup`` dropped); a reference pass is timed between\nevery two training batches, as the machine is shared and only interleaved timings compare.

    python scripts/bench_directions.py [--batches 12] [--batches-256 4] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack, save_results  # noqa: E402

load_pack()
from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator  # noqa: E402
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.directions import (CatalogMasks, FixedMask, LearnSettings, learn_directions,  # noqa: E402
                                                 score_layers, traverse)
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402

CHANNELS_256_CM2 = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}


def one_pass(g, taps, i, batch=4):
    """(forward + backward of an edited batch, no-grad forward of the originals) in seconds."""
    u = torch.randn(g.num_ws, g.w_dim, requires_grad=True)
    z = torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(i))
    with torch.no_grad():
        ws = g.mapping(z, truncation_psi=0.7)
    t0 = time.perf_counter()
    with torch.no_grad():
        g.synthesis_from_styles(g.styles(ws), taps=taps, return_image=False)
    t1 = time.perf_counter()
    _, feats = g.synthesis_from_styles(g.styles(ws + 0.5 * u), taps=taps, return_image=False)
    sum(f.square().mean() for f in feats.values()).backward()
    return time.perf_counter() - t1, t1 - t0


def interleaved(g, source, batches, warmup):
    """Training steps with a reference pass measured between every two steps (same process state:
    the machine is shared, so only interleaved timings are comparable)."""
    taps = sorted(set(score_layers(g)) | set(source.taps))
    train, fb, fw = [], [], []
    last = [None]

    def on_step(done, total, _):
        now = time.perf_counter()
        if last[0] is not None:
            train.append(now - last[0])
        a, b = one_pass(g, taps, done)
        fb.append(a)
        fw.append(b)
        last[0] = time.perf_counter()

    learn_directions(g, source, LearnSettings(space="w+", batches=batches), on_step=on_step)
    med = lambda x: statistics.median(x[warmup:])  # noqa: E731
    return med(train), med(fb), med(fw)


def report(name, g, source, batches, warmup, lines):
    train, fb, fw = interleaved(g, source, batches, warmup)
    lines.append(f"{name}: one training batch {train * 1e3:.1f} ms; forward+backward of the edited batch "
                 f"{fb * 1e3:.1f} ms (ratio {train / fb:.2f}); + no-grad forward of the originals {fw * 1e3:.1f} ms "
                 f"(ratio to both passes {train / (fb + fw):.2f}); seconds per direction (200 batches) "
                 f"{200 * train:.1f} s")
    print(lines[-1], flush=True)


def main():
    ap = add_common_args(argparse.ArgumentParser(description=__doc__), out=False)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--batches-256", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=2)
    args = apply_common_args(ap.parse_args())
    torch.manual_seed(0)
    lines = [f"LELSD speed, CPU, {args.threads} threads, torch {torch.__version__}, batch 4, space W+, "
             f"load average at start {os.getloadavg()[0]:.1f} (shared machine)"]
    g = load_embedded_generator()
    cat = load_embedded_catalog(g)
    report("faces64 (catalog 'mouth' masks)", g, CatalogMasks(g, cat, "mouth"), args.batches, args.warmup, lines)

    d = learn_directions(g, CatalogMasks(g, cat, "mouth"), LearnSettings(batches=1))
    lat = sample_latents(g, 0, 1, 0.7)
    alphas = [-3, -2, -1, -0.5, 0.5, 1, 2, 3]
    one, eight = [], []
    for _ in range(5):
        t0 = time.perf_counter()
        traverse(g, lat, d, 0, alphas)
        t1 = time.perf_counter()
        for a in alphas:
            traverse(g, lat, d, 0, [a])
        t2 = time.perf_counter()
        one.append(t1 - t0)
        eight.append(t2 - t1)
    lines.append(f"faces64 traverse of 8 strengths: one batched forward {statistics.median(one) * 1e3:.1f} ms, "
                 f"8 single forwards {statistics.median(eight) * 1e3:.1f} ms")
    print(lines[-1], flush=True)

    torch.manual_seed(0)
    big = StyleGAN2Generator(StyleGAN2Config(z_dim=512, w_dim=512, resolution=256, channels=CHANNELS_256_CM2,
                                             mapping_layers=8)).eval().requires_grad_(False)
    mask = torch.zeros(256, 256)
    mask[150:200, 80:176] = 1
    report("random StyleGAN2 256x256 cm2 (fixed mask)", big, FixedMask(mask), args.batches_256 + 1, 0, lines)
    save_results("bench_directions.txt", lines)


if __name__ == "__main__":
    main()
