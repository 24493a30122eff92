"""Speed of the StyleGAN2 core on this machine, relative to the bare convolutions it must run.

For a 256x256 StyleGAN2 layout (channel multiplier 2, z = w = 512, 8 mapping layers,
random weights) and batch sizes 1 and 8, reports:
- ms per image of a full forward (mapping + synthesis, noise const, no grad);
- resident memory with the model loaded, and the extra peak during one forward;
- effective throughput as a fraction of raw convolution throughput: the time the same
  convolutions take as bare ``conv2d`` / ``conv_transpose2d`` calls on tensors of the
  same shapes (every 3x3 layer, every up-sampling layer, every ToRGB), divided by the
  forward's time. 1.0 would mean modulation, demodulation, noise, bias, activation,
  FIR filtering and ToRGB skips cost nothing. Both are timed interleaved in one run and
  the medians compared, so machine noise affects both alike.

    python scripts/bench_stylegan2.py [--repeats 7] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import load_pack  # noqa: E402

load_pack()
from gan_local_edit.core import StyleGAN2Config, StyleGAN2Generator  # noqa: E402

CHANNELS_256_CM2 = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128}


def build():
    torch.manual_seed(0)
    cfg = StyleGAN2Config(z_dim=512, w_dim=512, resolution=256, channels=CHANNELS_256_CM2, mapping_layers=8)
    return StyleGAN2Generator(cfg).eval().requires_grad_(False)


def conv_ops(g, batch):
    """The bare convolutions of one forward, as (callable, flops)."""
    ops = []
    for block in g.synthesis_blocks:
        r = block.resolution
        convs = [block.conv1] if block.in_channels == 0 else [block.conv0, block.conv1]
        for layer in convs:
            if layer.up:
                x = torch.randn(batch, layer.in_channels, r // 2, r // 2)
                w = torch.randn(layer.in_channels, layer.out_channels, 3, 3)
                ops.append((lambda x=x, w=w: F.conv_transpose2d(x, w, stride=2),
                            2 * batch * layer.in_channels * layer.out_channels * 9 * (r // 2) ** 2))
            else:
                x = torch.randn(batch, layer.in_channels, r, r)
                w = torch.randn(layer.out_channels, layer.in_channels, 3, 3)
                ops.append((lambda x=x, w=w: F.conv2d(x, w, padding=1),
                            2 * batch * layer.in_channels * layer.out_channels * 9 * r * r))
        if block.has_torgb:
            x = torch.randn(batch, block.out_channels, r, r)
            w = torch.randn(3, block.out_channels, 1, 1)
            ops.append((lambda x=x, w=w: F.conv2d(x, w), 2 * batch * block.out_channels * 3 * r * r))
    return ops


@torch.no_grad()
def measure(batch: int, repeats: int) -> dict:
    g = build()
    z = torch.randn(batch, g.z_dim, generator=torch.Generator().manual_seed(1))
    ops = conv_ops(g, batch)
    flops = sum(f for _, f in ops)

    def forward():
        return g.synthesis(g.mapping(z, truncation_psi=0.7), noise_mode="const")

    def convs_only():
        for op, _ in ops:
            op()

    forward(), convs_only()  # warm-up (allocator, kernels)
    t_fwd, t_conv = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        forward()
        t_fwd.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        convs_only()
        t_conv.append(time.perf_counter() - t0)
    fwd, conv = statistics.median(t_fwd), statistics.median(t_conv)
    return {"batch": batch, "ms_per_image": 1000 * fwd / batch, "forward_ms": 1000 * fwd,
            "convs_only_ms": 1000 * conv, "conv_gflop": flops / 1e9,
            "forward_gflops": flops / fwd / 1e9, "raw_conv_gflops": flops / conv / 1e9,
            "fraction_of_raw_conv": conv / fwd}


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_memory(batch: int) -> dict:
    """Resident memory after building the model, and the extra peak of one forward (MB).

    The kernel's peak-RSS counter is reset (``/proc/self/clear_refs``) after the model is
    built, so the forward's own peak is measured, not the construction's.
    """
    g = build()
    z = torch.randn(batch, g.z_dim)
    with torch.no_grad():
        g.synthesis(g.mapping(z))  # warm-up: allocator caches, kernel workspaces
        base = _status_kb("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        g.synthesis(g.mapping(z))
        peak = _status_kb("VmHWM")
    return {"model_rss_mb": round(base / 1024), "forward_peak_extra_mb": round((peak - base) / 1024)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"StyleGAN2 256x256 (channel multiplier 2), CPU, {args.threads} threads, torch {torch.__version__}")
    rows = []
    for batch in (1, 8):
        r = measure(batch, args.repeats)
        r.update(peak_memory(batch))
        rows.append(r)
        print(f"batch {batch}: {r['ms_per_image']:.1f} ms/image (forward {r['forward_ms']:.0f} ms), "
              f"RSS {r['model_rss_mb']} MB + peak {r['forward_peak_extra_mb']} MB during the forward, "
              f"{r['forward_gflops']:.1f} GFLOP/s effective vs {r['raw_conv_gflops']:.1f} GFLOP/s raw conv "
              f"-> fraction {r['fraction_of_raw_conv']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
