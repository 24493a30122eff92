"""Build, label and save the catalog shipped with the embedded model.

The cluster numbers of the parts were read off the numbered preview this script writes
(docs/catalog_labelling.png); k-means is deterministic for a seed, so rerunning the script
gives the same numbering and the same file.

    python scripts/make_embedded_catalog.py --k 8 --labels "eyes: 1; nose: 2; mouth: 3"

The shipped catalog (labels proposed by scripts/eval_catalog_parts.py --propose on the catalog's own
training samples, see docs/results/eval_catalog_parts.txt):

    python scripts/make_embedded_catalog.py --k 64 --layer b32.conv1 --position-weight 1.0 --labels "..."
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import EMBEDDED_DIR, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.io import save_catalog  # noqa: E402
from gan_local_edit.core.ops.catalog import build_catalog, cluster_maps, parse_labels  # noqa: E402
from gan_local_edit.core.ops.catalog_preview import overlay_clusters  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--layer", default="", help="layer to cluster (empty: the first 32x32 conv)")
    p.add_argument("--position-weight", type=float, default=0.0,
                   help="weight of the (y, x) columns appended to the features (0 = the paper)")
    p.add_argument("--labels", default="", help="e.g. 'eyes: 1; nose: 2; mouth: 3' (empty: preview only)")
    args = apply_common_args(add_common_args(p).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    cat = build_catalog(g, n_samples=args.n, k=args.k, seed=args.seed, layer=args.layer or None,
                        position_weight=args.position_weight)
    show = sample_latents(g, 7, 16, 0.7)
    preview = overlay_clusters(render(g, show), cluster_maps(g, cat, show), 0.55, scale=4)
    save_image_grid(preview, os.path.join(args.out, f"catalog_labelling_k{args.k}.png"), cols=8, pad=2)
    print(cat.describe())
    if args.labels:
        cat = cat.with_labels(parse_labels(args.labels))
        path = os.path.join(EMBEDDED_DIR, f"faces64_catalog_k{args.k}.safetensors")
        save_catalog(cat, path)
        print("wrote", path, "-", cat.describe())


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
