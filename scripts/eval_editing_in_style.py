"""Editing in Style on the embedded face model: the paper's Fig. 7b protocol, plus the pictures.

For P target/reference pairs (seeded samples, truncation 0.7) and the labels eyes and
mouth of the shipped catalog, every transfer setting gives In-MSE (inside the target's
cluster mask of the label) and Out-MSE (outside it), in squared CIELAB units, averaged
over pairs. Sequential (budget epsilon) and simultaneous (lambda) are compared at matched
In-MSE by interpolating each curve; the paper's claim is that sequential changes less
outside the region for the same change inside.

    python scripts/eval_editing_in_style.py [--pairs 50] [--out docs]
writes docs/eis_fig7b.png, docs/catalog_clusters.png, docs/transfer_strip.png and prints the table.

    python scripts/eval_editing_in_style.py --defaults [--pairs 16]
only compares the node's default settings per mode (sequential epsilon 50, simultaneous lambda
2, and lambda 50, which the one shared widget used to give simultaneous mode) with swapping
the whole latent (the reference image itself).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import image_grid, save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error  # noqa: E402
from gan_local_edit.core.ops.catalog import build_catalog, catalog_mask, cluster_maps  # noqa: E402
from gan_local_edit.core.ops.catalog_preview import overlay_clusters  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.style_transfer import (DEFAULT_LAMBDA, TransferSettings, local_transfer,  # noqa: E402
                                                    query_vectors)

EPSILONS = [2, 5, 10, 20, 30, 50, 75, 100, 150, 250]
LAMBDAS = [0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 12, 20]


@torch.no_grad()
def curve(g, cat, targets, refs, label, mode, values, target_imgs):
    masks = catalog_mask(g, cat, targets, label)
    rows = []
    for v in values:
        edited = local_transfer(g, cat, targets, refs, label, [TransferSettings(mode, v)])
        err = lab_squared_error(target_imgs, render(g, edited, chunk=25))
        inside, outside = in_out_mse(err, masks)
        rows.append((v, float(inside.nanmean()), float(outside.nanmean())))
    return rows


def out_at(rows, in_value):
    """Out-MSE of a curve at a given In-MSE (linear interpolation; None outside its range)."""
    pts = sorted((r[1], r[2]) for r in rows)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    if not xs[0] <= in_value <= xs[-1]:
        return None
    return float(np.interp(in_value, xs, ys))


def plot(curves: dict, path: str, panel=(420, 340)):
    """Out-MSE against In-MSE (PIL only): one panel per label, sequential vs simultaneous.

    Each panel's In-MSE axis stops at 1.5x the sequential curve's reach, where both queries
    can be compared; simultaneous points beyond it are left out of view.
    """
    labels = sorted({name.split()[0] for name in curves})
    w, h, m = panel[0], panel[1], 50
    im = Image.new("RGB", (w * len(labels), h), "white")
    d = ImageDraw.Draw(im)
    colours = {"sequential": (200, 30, 30), "simultaneous": (30, 90, 200)}
    for j, label in enumerate(labels):
        ox = j * w
        seq_reach = max(r[1] for r in curves[f"{label} sequential"])
        x1 = 1.5 * seq_reach
        shown = {mode: [r for r in sorted(curves[f"{label} {mode}"], key=lambda r: r[1]) if r[1] <= x1]
                 for mode in colours}
        y1 = 1.05 * max(r[2] for rows in shown.values() for r in rows)
        tx = lambda x: ox + m + x / x1 * (w - 10 - m)  # noqa: E731
        ty = lambda y: h - m - y / y1 * (h - m - 24)  # noqa: E731
        d.rectangle([ox + m, 24, ox + w - 10, h - m], outline="black")
        d.text((ox + m, 6), f"{label}: Out-MSE vs In-MSE (CIELAB^2)", fill="black")
        for i, (mode, rows) in enumerate(shown.items()):
            pts = [(tx(r[1]), ty(r[2])) for r in rows]
            if len(pts) > 1:
                d.line(pts, fill=colours[mode], width=2)
            for p in pts:
                d.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=colours[mode])
            d.text((ox + m + 8, 30 + 14 * i), mode, fill=colours[mode])
        for k in range(5):
            d.text((tx(x1 * k / 4) - 8, h - m + 6), f"{x1 * k / 4:.0f}", fill="black")
            d.text((ox + 4, ty(y1 * k / 4) - 6), f"{y1 * k / 4:.0f}", fill="black")
        d.text((ox + w // 2 - 20, h - 22), "In-MSE", fill="black")
    im.save(path)


@torch.no_grad()
def default_settings_table(g, cat, pairs: int):
    """In/Out-MSE of each mode's default, of lambda 50 and of a whole-latent swap, per label."""
    targets = sample_latents(g, 1000, pairs, 0.7)
    refs = sample_latents(g, 2000, pairs, 0.7)
    target_imgs = render(g, targets, chunk=25)
    rows = [("sequential, epsilon 50 (default)", TransferSettings("sequential")),
            (f"simultaneous, lambda {DEFAULT_LAMBDA:g} (default)", TransferSettings("simultaneous")),
            ("simultaneous, lambda 50 (the old shared default)", TransferSettings("simultaneous", 50.0))]
    for label in ("eyes", "mouth"):
        masks = catalog_mask(g, cat, targets, label)
        print(f"\n{label}: {pairs} pairs (targets seeds from 1000, references from 2000, psi 0.7)")
        print("| setting | channels moved (q > 0) | fully (q = 1) | In-MSE | Out-MSE |\n|---|---|---|---|---|")
        total = sum(l.style_dim for l in g.styled_layers())
        for name, st in rows:
            q = torch.cat(query_vectors(g, cat, label, st))
            edited = local_transfer(g, cat, targets, refs, label, [st])
            inside, outside = in_out_mse(lab_squared_error(target_imgs, render(g, edited, chunk=25)), masks)
            print(f"| {name} | {int((q > 0).sum())}/{total} | {int((q >= 1).sum())}/{total} | "
                  f"{float(inside.nanmean()):.2f} | {float(outside.nanmean()):.2f} |")
        inside, outside = in_out_mse(lab_squared_error(target_imgs, render(g, refs, chunk=25)), masks)
        print(f"| whole-latent swap (the reference image) | {total}/{total} | {total}/{total} | "
              f"{float(inside.nanmean()):.2f} | {float(outside.nanmean()):.2f} |")


def label_overlay(g, cat, latents, imgs, colours=((1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0))):
    """The shipped catalog's eyes / nose / mouth masks tinted red / green / blue, at 2x."""
    out = imgs.clone()
    for label, colour in zip(("eyes", "nose", "mouth"), colours):
        m = catalog_mask(g, cat, latents, label)[:, None]
        out = out * (1 - 0.55 * m) + 0.55 * m * torch.tensor(colour)[None, :, None, None]
    return torch.nn.functional.interpolate(out, scale_factor=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=50)
    p.add_argument("--defaults", action="store_true", help="only the default-settings table")
    args = apply_common_args(add_common_args(p).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    cat = load_embedded_catalog(g)
    print(cat.describe())
    if args.defaults:
        default_settings_table(g, cat, args.pairs)
        return

    # pictures: cluster maps for K = 6 and 10 over the same 8 faces
    show = sample_latents(g, 7, 8, 0.7)
    imgs = render(g, show)
    tiles = []
    for k in (6, 10):
        c = build_catalog(g, n_samples=200, k=k, seed=0)
        tiles.append(image_grid(overlay_clusters(imgs, cluster_maps(g, c, show), 0.55, scale=2), cols=8, pad=2))
    tiles.append(image_grid(label_overlay(g, cat, show, imgs), cols=8, pad=2))
    Image.fromarray(np.concatenate([image_grid(torch.nn.functional.interpolate(imgs, scale_factor=2),
                                               cols=8, pad=2)] + tiles, axis=0)).save(
        os.path.join(args.out, "catalog_clusters.png"))

    targets = sample_latents(g, 1000, args.pairs, 0.7)
    refs = sample_latents(g, 2000, args.pairs, 0.7)
    target_imgs = render(g, targets, chunk=25)

    # a transfer strip: target, reference, then growing epsilon, for eyes and mouth
    strip = []
    for label in ("eyes", "mouth"):
        for i in range(3):
            t, r = targets.select(i), refs.select(i)
            ed = local_transfer(g, cat, t, r, label, [TransferSettings("sequential", e) for e in (10, 30, 50, 100)])
            strip.append(torch.cat([render(g, t), render(g, r), render(g, ed)]))
    save_image_grid(torch.nn.functional.interpolate(torch.cat(strip), scale_factor=2), os.path.join(
        args.out, "transfer_strip.png"), cols=6, pad=2)

    curves, table = {}, []
    for label in ("eyes", "mouth"):
        seq = curve(g, cat, targets, refs, label, "sequential", EPSILONS, target_imgs)
        sim = curve(g, cat, targets, refs, label, "simultaneous", LAMBDAS, target_imgs)
        curves[f"{label} sequential"], curves[f"{label} simultaneous"] = seq, sim
        print(f"\n{label}: {args.pairs} pairs")
        print("| mode | value | In-MSE | Out-MSE |\n|---|---|---|---|")
        for mode, rows in (("sequential (epsilon)", seq), ("simultaneous (lambda)", sim)):
            for v, i_mse, o_mse in rows:
                print(f"| {mode} | {v:g} | {i_mse:.2f} | {o_mse:.2f} |")
        lo = max(min(r[1] for r in seq), min(r[1] for r in sim))
        hi = min(max(r[1] for r in seq), max(r[1] for r in sim))
        print(f"\nmatched In-MSE ({label}): Out-MSE sequential vs simultaneous")
        wins = 0
        levels = np.linspace(lo, hi, 6)[1:-1] if hi > lo else []
        for level in levels:
            a, b = out_at(seq, level), out_at(sim, level)
            wins += a < b
            print(f"  In-MSE {level:7.2f}: sequential {a:.3f}  simultaneous {b:.3f}  "
                  f"({'sequential lower' if a < b else 'simultaneous lower'})")
        table.append((label, wins, len(levels)))
    plot(curves, os.path.join(args.out, "eis_fig7b.png"))
    print("\nsummary: " + "; ".join(f"{lab}: sequential lower at {w}/{n} matched In-MSE levels"
                                   for lab, w, n in table))


if __name__ == "__main__":
    main()
