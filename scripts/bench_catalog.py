"""Speed of Editing in Style on the embedded model (CPU, ratios measured in one run).

- building a catalog (N=200, K=10) vs generating those 200 images (same batch size);
- one local transfer (styles of target and reference, query vectors, synthesis of the
  edited image) vs one generator forward (mapping + synthesis of one image).
Medians of interleaved repeats.

The catalog-vs-generation ratio is measured twice: in one process (interleaved), and with
each workload alone in fresh processes (alternating). The two differ because glibc's
allocator serves the large activation tensors either from memory the process already holds
or from freshly mapped pages that the kernel must zero first, and which of the two happens
depends on what ran before in the process: generation alone in a fresh process measured
about 1.5x slower than generation interleaved with catalog builds.

    python scripts/bench_catalog.py [--repeats 3] [--processes 3] [--threads 2]

``--position-weight W`` instead times the catalog build with position channels (weight W) against
the paper's plain build (weight 0) for the same N=200, ``--k`` and ``--layer``, interleaved.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.catalog import build_catalog  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.style_transfer import TransferSettings, local_transfer  # noqa: E402


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def compare_position_weight(g, args, batch):
    """Median build seconds with and without position channels, interleaved repeats."""
    def build(weight):
        return lambda: build_catalog(g, n_samples=200, k=args.k, layer=args.layer, seed=0, batch=batch,
                                     position_weight=weight)
    build(0.0)()   # warm-up
    plain, spatial = [], []
    for _ in range(args.repeats):
        plain.append(timed(build(0.0)))
        spatial.append(timed(build(args.position_weight)))
    a, b = statistics.median(plain), statistics.median(spatial)
    print(f"catalog build N=200, K={args.k}, layer {args.layer}, {args.repeats} interleaved repeats, "
          f"{torch.get_num_threads()} threads")
    print(f"position weight 0 (paper): median {a:.2f} s  {[round(t, 2) for t in plain]}")
    print(f"position weight {args.position_weight:g}: median {b:.2f} s  {[round(t, 2) for t in spatial]}")
    print(f"ratio {b / a:.2f}x (target <= 1.5x)")


@torch.no_grad()
def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--processes", type=int, default=3, help="fresh processes per workload (0: skip)")
    p.add_argument("--position-weight", type=float, default=None,
                   help="only compare the build with this position weight against weight 0")
    p.add_argument("--k", type=int, default=64, help="K of the position-weight comparison")
    p.add_argument("--layer", default="b32.conv1", help="layer of the position-weight comparison")
    p.add_argument("--only", choices=("generate", "catalog"), help=argparse.SUPPRESS)
    args = apply_common_args(add_common_args(p, out=False).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    batch = 25

    def generate():
        render(g, sample_latents(g, 0, 200, 0.7), chunk=batch)

    def catalog():
        build_catalog(g, n_samples=200, k=10, seed=0, batch=batch)

    if args.position_weight is not None:
        return compare_position_weight(g, args, batch)
    if args.only:   # child of the fresh-process measurement: one workload, median seconds on stdout
        work = generate if args.only == "generate" else catalog
        work()
        print(statistics.median(timed(work) for _ in range(args.repeats)))
        return
    if args.processes:
        alone = {"generate": [], "catalog": []}
        for _ in range(args.processes):
            for name in alone:
                cmd = [sys.executable, os.path.abspath(__file__), "--only", name, "--repeats", str(args.repeats),
                       "--threads", str(args.threads)]
                alone[name].append(float(subprocess.run(cmd, check=True, capture_output=True,
                                                        text=True).stdout.split()[-1]))
        gen, cb = statistics.median(alone["generate"]), statistics.median(alone["catalog"])
        print(f"fresh processes ({args.processes} each): generate 200 images: {gen:.2f} s;  build catalog "
              f"N=200 K=10: {cb:.2f} s;  ratio {cb / gen:.2f} (target <= 1.5)")

    generate(), catalog()
    t_gen, t_cat = [], []
    for _ in range(args.repeats):
        t_gen.append(timed(generate))
        t_cat.append(timed(catalog))
    gen, cb = statistics.median(t_gen), statistics.median(t_cat)
    print(f"one process, interleaved: generate 200 images: {gen:.2f} s;  build catalog N=200 K=10: {cb:.2f} s;  "
          f"ratio {cb / gen:.2f} (target <= 1.5)")

    cat = load_embedded_catalog(g)
    t, r = sample_latents(g, 1, 1, 0.7), sample_latents(g, 2, 1, 0.7)
    z = torch.randn(1, g.z_dim, generator=torch.Generator().manual_seed(3))
    settings = [TransferSettings("sequential", 50.0)]

    def forward():
        g.synthesis(g.mapping(z, truncation_psi=0.7))

    def transfer():
        render(g, local_transfer(g, cat, t, r, "eyes", settings))

    forward(), transfer()
    t_fwd, t_tr = [], []
    for _ in range(20 * args.repeats):
        t_fwd.append(timed(forward))
        t_tr.append(timed(transfer))
    fwd, tr = statistics.median(t_fwd), statistics.median(t_tr)
    print(f"one forward: {1000 * fwd:.1f} ms;  one transfer: {1000 * tr:.1f} ms;  ratio {tr / fwd:.2f} "
          f"(target <= 1.2)")


if __name__ == "__main__":
    main()
