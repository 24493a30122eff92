"""Do a catalog's "eyes" / "nose" / "mouth" follow the parts? Checked against MediaPipe FaceMesh.

Evaluation only (needs ``mediapipe==0.10.14``, see requirements-eval.txt and scripts/_face_reference.py).
On held-out samples (seed 123457, truncation 0.7) each label's hard mask (``label_mask``, as the
Catalog Mask node makes it) is compared with FaceMesh's eye contours, outer lip contour and nose hull:

- area: mean pixels of the label per image;
- covers <part>: share of the part's pixels inside the label;
- near own: share of the label's pixels within 3 px (Euclidean) of the label's own part.

The same table is printed per cluster. Targets (issue 19): covers >= 80 % of its part, >= 70 % near
its part, <= 5 % of each other part.

``--propose`` runs on the catalog's own training samples (its seed, N and truncation) instead and
prints labels chosen by this greedy rule, so the labelling is reproducible and never looks at held-out
faces: a cluster is a candidate for the part it lies nearest (largest near share) when >= 50 % of its
pixels are within 3 px of that part and it covers >= 2 % of that part and <= 2 % of each other part;
candidates are taken by their coverage of the part, largest first, and each is kept only if the label
so far then still has >= 70 % of its pixels within 3 px of the part.

    /work/venv-eval/bin/python scripts/eval_catalog_parts.py --catalog models/embedded/...safetensors
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _face_reference import PARTS, FaceReference, to_uint8  # noqa: E402
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.io import load_catalog  # noqa: E402
from gan_local_edit.core.ops.catalog import cluster_maps, label_mask  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402

HELD_OUT_SEED = 123457
NEAR_PX = 3
TARGET_COVER, TARGET_NEAR, TARGET_OTHER = 0.80, 0.70, 0.05
RULE_NEAR, RULE_OWN, RULE_OTHER, RULE_LABEL_NEAR = 0.50, 0.02, 0.02, 0.70


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """[B, H, W] bool -> pixels within ``radius`` px (Euclidean) of the mask."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    disk = ((r[:, None] ** 2 + r[None, :] ** 2) <= radius ** 2).float()[None, None]
    return F.conv2d(mask.float()[:, None], disk, padding=radius)[:, 0] > 0


def reference_parts(g, lat, size):
    """MediaPipe part masks of the rendered latents; faces that FaceMesh misses are dropped."""
    ref = FaceReference()
    lm = ref.landmarks(to_uint8(render(g, lat)))
    found = ~np.isnan(lm).any(axis=(1, 2))
    masks = ref.part_masks(lm, size)
    parts = {p: torch.from_numpy(masks[p][found]) for p in PARTS}
    return parts, torch.from_numpy(found)


def stats(mask: torch.Tensor, parts: dict, near: dict) -> dict:
    """Area and coverage of / share near each part for one [B, H, W] bool mask."""
    px = mask.sum().item()
    out = {"area": px / mask.shape[0]}
    for p in PARTS:
        out[f"cover_{p}"] = (mask & parts[p]).sum().item() / max(parts[p].sum().item(), 1)
        out[f"near_{p}"] = (mask & near[p]).sum().item() / max(px, 1)
    return out


def row(name, s, own=None):
    cells = " ".join(f"{100 * s[f'cover_{p}']:6.1f}" for p in PARTS)
    nears = " ".join(f"{100 * s[f'near_{p}']:6.1f}" for p in PARTS)
    return f"{name:<14} {s['area']:7.1f}  {cells}   {nears}"


HEADER = (f"{'label/cluster':<14} {'area':>7}  " + " ".join(f"{'cov ' + p[:4]:>6}" for p in PARTS) + "   "
          + " ".join(f"{'near ' + p[:4]:>6}" for p in PARTS) + "   (%; near = share within 3 px)")


def propose(cluster_stats: dict, maps, size, parts, near) -> dict:
    """The greedy labelling rule of the module docstring: part -> sorted cluster ids."""
    candidates = {p: [] for p in PARTS}
    for k, s in cluster_stats.items():
        part = max(PARTS, key=lambda p: s[f"near_{p}"])
        others_ok = all(s[f"cover_{q}"] <= RULE_OTHER for q in PARTS if q != part)
        if s[f"near_{part}"] >= RULE_NEAR and s[f"cover_{part}"] >= RULE_OWN and others_ok:
            candidates[part].append(k)
    labels = {}
    for part, ks in candidates.items():
        chosen = []
        for k in sorted(ks, key=lambda k: -cluster_stats[k][f"cover_{part}"]):
            s = stats(label_mask(maps, chosen + [k], size) > 0, parts, near)
            if s[f"near_{part}"] >= RULE_LABEL_NEAR:
                chosen.append(k)
        if chosen:
            labels[part] = sorted(chosen)
    return labels


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--catalog", default="", help="catalog file (default: the shipped one)")
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--propose", action="store_true", help="training samples; print the rule's labels")
    p.add_argument("--size", type=int, default=0, help="mask size (default: the generator's)")
    args = apply_common_args(add_common_args(p, out=False).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    cat = load_catalog(args.catalog, g) if args.catalog else load_embedded_catalog(g)
    size = args.size or g.resolution
    if args.propose:
        seed, n, psi = cat.meta["seed"], cat.meta["n_samples"], cat.meta["truncation_psi"]
    else:
        seed, n, psi = HELD_OUT_SEED, args.samples, 0.7
    print(cat.describe())
    print(f"samples: seed {seed}, {n} images, truncation {psi}; masks {size} px, hard (Catalog Mask)")
    lat = sample_latents(g, seed, n, psi)
    parts, found = reference_parts(g, lat, size)
    print(f"MediaPipe found a face in {int(found.sum())} of {n}")
    maps = cluster_maps(g, cat, lat)[found]
    near = {q: dilate(parts[q], NEAR_PX) for q in PARTS}

    clusters = {k: stats(label_mask(maps, [k], size) > 0, parts, near) for k in range(cat.k)}
    print("\nper cluster\n" + HEADER)
    for k, s in clusters.items():
        print(row(str(k), s))
    if args.propose:
        rule = propose(clusters, maps, size, parts, near)
        print("\nproposed labels (greedy rule of this script's docstring, on the training samples):")
        print("; ".join(f"{q}: {','.join(map(str, ids))}" for q, ids in rule.items()))
        return
    print("\nper label\n" + HEADER)
    verdicts = []
    for q in PARTS:
        if q not in cat.labels:
            print(f"{q:<14} (no such label)")
            verdicts.append(f"FAIL {q}: no label")
            continue
        s = stats(label_mask(maps, cat.cluster_ids(q), size) > 0, parts, near)
        print(row(f"{q} ({','.join(map(str, cat.cluster_ids(q)))})", s))
        worst = max(s[f"cover_{o}"] for o in PARTS if o != q)
        ok = s[f"cover_{q}"] >= TARGET_COVER and s[f"near_{q}"] >= TARGET_NEAR and worst <= TARGET_OTHER
        verdicts.append(f"{'PASS' if ok else 'FAIL'} {q}: covers {100 * s[f'cover_{q}']:.1f}% of MP {q} "
                        f"(>= {TARGET_COVER:.0%}), {100 * s[f'near_{q}']:.1f}% within 3 px (>= {TARGET_NEAR:.0%}), "
                        f"covers at most {100 * worst:.1f}% of another part (<= {TARGET_OTHER:.0%})")
    print()
    print("\n".join(verdicts))


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    main()
