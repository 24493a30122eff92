"""Peak memory of Latent Paste against the image size (CPU, random-weight generators).

For each size a fresh process builds a StyleGAN2 with the official layout for that
resolution (z = w = 512, 8 mapping layers, channels min(32768 / r, 512): the FFHQ config-f
table), renders one image (what any workflow pays anyway), then runs a paste of a few steps
with the default settings (feature layer b32, first 6 W+ rows). Reported: the process's peak
RSS after the render and after the paste (``ru_maxrss``), and their difference, the memory
the paste needs beyond a render. ``--root`` picks the code tree to measure (e.g. an export
of main, for a before/after comparison). Runs that would pass ``--cap-gib`` of extra data
are stopped by a limit on the process's data segment and reported as such.

    python3 scripts/bench_paste_memory.py [--root DIR] [--sizes 256 512 1024] [--steps 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, load_pack  # noqa: E402

GIB = 1024 ** 3


def official_layout(resolution: int) -> dict:
    r, channels = 4, {}
    while r <= resolution:
        channels[r] = min(32768 // r, 512)
        r *= 2
    return dict(z_dim=512, w_dim=512, resolution=resolution, channels=channels, mapping_layers=8)


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024      # Linux reports KiB


def vm_data() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def child(size: int, steps: int, threads: int, root: str, cap_gib: float):
    import torch
    torch.set_num_threads(threads)
    load_pack(root)
    from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator
    from gan_local_edit.core.ops.deformable_match import MatchResult
    from gan_local_edit.core.ops.generate import render, sample_latents
    from gan_local_edit.core.ops.latent_paste import PasteSettings, default_feature_layer, paste
    from gan_local_edit.core.ops.match_eval import disc_mask

    torch.manual_seed(0)
    g = StyleGAN2Generator(StyleGAN2Config(**official_layout(size))).eval().requires_grad_(False)
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    with torch.no_grad():
        render(g, t)
    base = peak_rss()
    layer = default_feature_layer(g)
    grid = g.layer(layer).resolution
    roi = MatchResult(centre=(grid * 0.55, grid * 0.45), scale=1.1, angle=5.0, score=1.0,
                      ref_centre=(grid / 2, grid / 2), grid_size=grid)
    mask = disc_mask(size, size / 2, size / 2, size * 0.12)
    limit = vm_data() + int(cap_gib * GIB)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    start = time.perf_counter()
    status = "ok"
    try:
        paste(g, t, r, mask, roi, PasteSettings(steps=steps, preview_every=steps))
    except (RuntimeError, MemoryError) as e:
        status = f"stopped at the {cap_gib:g} GiB cap ({str(e).splitlines()[0][:90]})"
    seconds = time.perf_counter() - start
    print(json.dumps({"size": size, "layer": layer, "grid": grid, "base": base, "peak": peak_rss(),
                      "seconds": seconds, "status": status}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default=ROOT, help="code tree to measure (default: this one)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cap-gib", type=float, default=12.0, help="stop a paste that needs more extra data")
    p.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.child, args.steps, args.threads, args.root, args.cap_gib)
        return
    root = os.path.abspath(args.root)
    print(f"code tree: {root}")
    print(f"paste: {args.steps} steps, default settings; one fresh process per size; {args.threads} thread(s)")
    print("| size | feature layer (grid) | peak RSS after a render (GiB) | peak RSS after the paste (GiB) | "
          "paste extra (GiB) | paste time (s) | status |")
    print("|---|---|---|---|---|---|---|")
    for size in args.sizes:
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", str(size), "--root", root,
                              "--steps", str(args.steps), "--threads", str(args.threads),
                              "--cap-gib", str(args.cap_gib)], capture_output=True, text=True)
        lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
        if out.returncode or not lines:
            print(f"| {size} | - | - | - | - | - | child failed (exit {out.returncode}): "
                  f"{(out.stderr.strip().splitlines() or ['?'])[-1][:100]} |")
            continue
        d = json.loads(lines[-1])
        print(f"| {size} | {d['layer']} ({d['grid']}x{d['grid']}) | {d['base'] / GIB:.2f} | {d['peak'] / GIB:.2f} | "
              f"{(d['peak'] - d['base']) / GIB:.2f} | {d['seconds']:.1f} | {d['status']} |", flush=True)


if __name__ == "__main__":
    main()
