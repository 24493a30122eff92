"""Add each image's RGB (key "rgb", [1, 3, H, W]) to a cache of scripts/eval_match_landmarks.py.

The images are re-rendered deterministically (same seeds, truncation and warps as the cache's
collection, whose warps depend on the pair count it was built with), without rerunning MediaPipe;
each re-rendered b64 tap is compared with the cached one to prove it is the same image.

    /work/venv-eval/bin/python scripts/cache_add_images.py --cache /tmp/i16b_p200.pt --dest /tmp/i16c_p200img.pt
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from eval_match_landmarks import random_warps, render_with_taps  # noqa: E402
from gan_local_edit.core.embedded import load_embedded_generator  # noqa: E402
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cache", required=True)
    p.add_argument("--dest", required=True)
    add_common_args(p, out=False).set_defaults(threads=1)
    args = apply_common_args(p.parse_args(argv))
    g = load_embedded_generator(device="cpu")
    data = torch.load(args.cache, weights_only=True)
    pairs = len(data["ref"])
    refs, tgts = sample_latents(g, 3000, pairs, 0.7), sample_latents(g, 4000, pairs, 0.7)
    warps = random_warps(pairs, 5)
    worst = 0.0
    for i in range(pairs):
        for kind, lat, warp in (("ref", refs.select(i), None), ("aligned", tgts.select(i), None),
                                ("warped", tgts.select(i), warps[i])):
            img, feats = render_with_taps(g, lat, warp)
            cached = data[kind][i][0]
            worst = max(worst, float((feats["b64"] - cached["b64"]).abs().max()))
            cached["rgb"] = img
    print(f"{pairs} pairs; largest difference of the re-rendered b64 tap from the cached one: {worst:.2e}")
    torch.save(data, args.dest)


if __name__ == "__main__":
    main()
