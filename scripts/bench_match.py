"""Cost of ROI detection per pair (features of both images + matching) for named matcher settings.

The settings are timed interleaved (one call of each per round), so a busy machine slows them
alike; the ratio to the first named settings is printed (issue 16 bounds the default's
to the previous default, ``round1``, at 1.2x).

    python scripts/bench_match.py [--repeats 15] [--methods round1,default,paper]
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
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.deformable_match import detect_roi  # noqa: E402
from gan_local_edit.core.ops.match_methods import MATCH_METHODS  # noqa: E402
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402
from gan_local_edit.core.ops.match_eval import disc_mask  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--methods", default="round1,default,paper")
    add_common_args(p, out=False).set_defaults(threads=1)   # small problems: more threads only add overhead
    args = apply_common_args(p.parse_args(argv))
    g = load_embedded_generator(device="cpu")
    catalog = load_embedded_catalog(g)
    refs, tgts = sample_latents(g, 1, args.repeats, 0.7), sample_latents(g, 2, args.repeats, 0.7)
    mask = disc_mask(64, 24.0, 28.0, 0.06 * 64)
    methods = args.methods.split(",")
    times = {m: [] for m in methods}

    def run(m, i):
        st, layers = MATCH_METHODS[m]
        detect_roi(g, tgts.select(i), refs.select(i), mask, layers=layers, settings=st, catalog=catalog)

    for m in methods:
        run(m, 0)     # warm-up
    for i in range(args.repeats):
        for m in methods:
            t0 = time.perf_counter()
            run(m, i)
            times[m].append(time.perf_counter() - t0)
    base = statistics.median(times[methods[0]])
    print(f"ROI detection per pair, median of {args.repeats} pairs, {torch.get_num_threads()} thread(s), interleaved:")
    for m in methods:
        t = statistics.median(times[m])
        print(f"  {m}: {1000 * t:.0f} ms = {t / base:.2f}x {methods[0]}  ({MATCH_METHODS[m][0].describe()})")


if __name__ == "__main__":
    main()
