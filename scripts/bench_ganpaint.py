"""Speed of GANPaint's adaptation step and paint preview (CPU, one run).

- one adaptation step (Adam on the multiplicative deltas of the fine layers, the synthesis up to the
  first adapted layer cached) vs one forward + backward of the same fine layers from the same cached
  features (loss summed L1, gradient taken down to the cached features); a reference pass is timed
  between every two adaptation steps (the machine is shared: only interleaved timings compare);
- the paint preview: ``PaintCanvas.render`` (the rest of one forward from the paused layer) vs one
  full forward, and how many times the first synthesis layer runs during a preview (0 = partial).
Medians over the timed steps, in CPU time of this process (time.process_time, all threads): the machine
is shared with other jobs, and wall-clock times there swing by 2-5x from one second to the next. Models: the embedded faces64 (StyleGAN2, paint layer b16.conv1) and
the ProGAN fixture (tests/fixtures/proggan_tiny64.pth, paint layer layer4).

    python scripts/bench_ganpaint.py --threads 1 [--steps 40]   # docs/results/bench_ganpaint.txt
    (other thread counts write docs/results/bench_ganpaint_<n>threads.txt)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core import load_generator  # noqa: E402
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.io import load_units  # noqa: E402,F401
from gan_local_edit.core.ops.adapt import AdaptSettings, adapt_to_image, default_paint_layer  # noqa: E402
from gan_local_edit.core.ops.dissect import dissect  # noqa: E402
from gan_local_edit.core.ops.featuremap import (codes_for, fine_layers, paused_before, resume, run_to,  # noqa: E402
                                                with_features)
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.paint import PaintCanvas, Stroke  # noqa: E402


def bench_adapt(g, steps, warmup=5):
    photo = render(g, sample_latents(g, 5, 1, 0.7))
    lat = sample_latents(g, 6, 1, 0.7)
    layer = default_paint_layer(g)
    layers = fine_layers(g, layer)
    codes = codes_for(g, lat)
    with torch.no_grad():
        state, _ = run_to(g, codes, paused_before(g, layers))

    def reference():
        x = state.x.detach().clone().requires_grad_(True)
        t = time.process_time()
        img = resume(g, codes, with_features(state, x))
        (img - photo).abs().sum().backward()
        return time.process_time() - t

    step_times, ref_times, mark = [], [], [None]

    def on_step(done, total, _):
        now = time.process_time()
        if mark[0] is not None and done > warmup:
            step_times.append(now - mark[0])
            ref_times.append(reference())
        mark[0] = time.process_time()

    adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=steps + warmup + 1), on_step=on_step)
    s, r = statistics.median(step_times), statistics.median(ref_times)
    return layers, s, r


class Counter:
    def __init__(self, module):
        self.n = 0
        self.h = module.register_forward_hook(lambda *a: setattr(self, "n", self.n + 1))


def bench_paint(g, first_module, repeats):
    lat = sample_latents(g, 7, 1, 0.7)
    layer = default_paint_layer(g)
    n = g.layer(layer).out_channels
    masks = {"c": torch.ones(4, g.resolution, g.resolution)}
    masks["c"][:, : g.resolution // 2] = 0
    table = dissect(g, layer, masks, sample_latents(g, 1, 4, 0.7))
    mask = torch.zeros(g.resolution, g.resolution)
    mask[g.resolution // 2:, g.resolution // 4: 3 * g.resolution // 4] = 1
    canvas = PaintCanvas(g, table, lat)
    counter = Counter(first_module)
    strokes = [Stroke("c", mask, "remove", min(15, n))]
    prev, full = [], []
    for _ in range(repeats):
        t = time.process_time()
        canvas.render(strokes)
        prev.append(time.process_time() - t)
        calls_preview = counter.n
        t = time.process_time()
        render(g, lat)
        full.append(time.process_time() - t)
        counter.n = 0
    return statistics.median(prev), statistics.median(full), calls_preview


def main():
    p = add_common_args(argparse.ArgumentParser(description=__doc__), out=False)
    p.add_argument("--steps", type=int, default=40, help="timed adaptation steps per model")
    p.add_argument("--repeats", type=int, default=30, help="paint previews timed per model")
    args = apply_common_args(p.parse_args())
    lines = [f"bench_ganpaint: torch {torch.__version__}, {args.threads} threads, {args.steps} timed steps, "
             f"{args.repeats} previews (medians)"]
    faces = load_embedded_generator(device="cpu")
    progan = load_generator(os.path.join(ROOT, "tests", "fixtures", "proggan_tiny64.pth"), device="cpu")
    for name, g, first in (("faces64 (StyleGAN2)", faces, faces.synthesis_net.b4.conv1),
                           ("proggan_tiny64 (ProGAN)", progan, progan.layer1)):
        layers, step, ref = bench_adapt(g, args.steps)
        lines.append(f"{name}: adapted layers {', '.join(layers)}")
        lines.append(f"  one adaptation step {1e3 * step:.1f} ms vs forward+backward of those layers "
                     f"{1e3 * ref:.1f} ms: ratio {step / ref:.2f} (target <= 1.3)")
        prev, full, calls = bench_paint(g, first, args.repeats)
        lines.append(f"  paint preview (from the paused {default_paint_layer(g)}) {1e3 * prev:.2f} ms vs one full "
                     f"forward {1e3 * full:.2f} ms: ratio {prev / full:.2f}; first layer ran {calls} times "
                     f"during a preview (0 = only the layers after the paint layer run)")
    text = "\n".join(lines)
    print(text)
    name = "bench_ganpaint.txt" if args.threads == 1 else f"bench_ganpaint_{args.threads}threads.txt"
    with open(os.path.join(ROOT, "docs", "results", name), "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
