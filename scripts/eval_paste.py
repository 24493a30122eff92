"""Adaptive Paste-GAN evaluations on synthetic features and on the embedded face model.

1. transform recovery: target features = reference features warped by a known similarity
   (scale 0.7-1.4, rotation +-30 deg, shifts across the map); success = centre within 2 % of
   the map, scale within 5 %, angle within 3 deg;
2. the paper's Table 1 protocol: reference/target pairs, a circular reference mask of radius
   6 % of the image around a part's centre (eyes, nose, mouth: centroids of the shipped
   catalog's cluster masks in the reference); error = distance from the detected ROI centre
   to the same part's centre in the target, in % of the image size;
3. locality of the paste: In/Out-MSE (squared CIELAB) of the edit inside/outside the target
   ROI after 5, 10, 25, 50, 100 and 200 steps, for several (learning rate, gamma) settings
   (the paper gives lr 0.05 and gamma < 1 only).

    python scripts/eval_paste.py [--cases 200] [--pairs 200] [--paste-pairs 20] [--paste-configs 0.05:0.1,0.05:0.3,0.2:0.1]
    python scripts/eval_paste.py --cases 0 --pairs 0 --no-pictures --paste-configs 0.05:0.1:b16,0.05:0.1:b64,0.05:0.1::4
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import outline, save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.deformable_match import detect_roi, match_features  # noqa: E402
from gan_local_edit.core.ops.match_eval import disc_mask as disc, recovered, recovery_errors, synthetic_case  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.latent_paste import PasteSettings, default_feature_layer, paste  # noqa: E402

PARTS = ("eyes", "nose", "mouth")


def centroid(mask):
    ys, xs = torch.nonzero(mask > 0.5, as_tuple=True)
    if len(xs) == 0:
        return None
    return float(xs.float().mean()), float(ys.float().mean())


def transform_recovery(cases: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    errs, t0 = [], time.time()
    for _ in range(cases):
        ref, mask, tgt, true = synthetic_case(gen)
        errs.append(recovery_errors(match_features(ref, mask, tgt), mask, true))
    n, ok = len(errs), sum(recovered(e) for e in errs)
    print(f"transform recovery: {ok}/{n} = {100 * ok / n:.1f} % within (centre 2 %, scale 5 %, angle 3 deg); "
          f"median errors: centre {statistics.median(e[0] for e in errs):.2f} %, "
          f"scale {statistics.median(e[1] for e in errs):.2f} %, angle {statistics.median(e[2] for e in errs):.2f} deg; "
          f"{(time.time() - t0) / n:.2f} s per case")


def table1(g, cat, pairs: int, out_dir: str):
    refs = sample_latents(g, 3000, pairs, 0.7)
    tgts = sample_latents(g, 4000, pairs, 0.7)
    size = g.resolution
    radius = 0.06 * size
    print(f"\nTable 1 protocol: {pairs} pairs, reference mask radius {radius:.2f} px (6 % of {size})")
    print("| part | mean error (% of image) | std (%) | pairs used |\n|---|---|---|---|")
    pictures = []
    for part in PARTS:
        ref_masks = catalog_mask(g, cat, refs, part)
        tgt_masks = catalog_mask(g, cat, tgts, part)
        errors = []
        for i in range(pairs):
            c_ref, c_tgt = centroid(ref_masks[i]), centroid(tgt_masks[i])
            if c_ref is None or c_tgt is None:
                continue
            mask = disc(size, c_ref[0], c_ref[1], radius)
            match, tmask = detect_roi(g, tgts.select(i), refs.select(i), mask)
            (x, y), _ = match.to_pixels(size)
            errors.append(math.hypot(x - c_tgt[0], y - c_tgt[1]) / size * 100)
            if i < 4:
                imgs = render(g, refs.select(i)), render(g, tgts.select(i))
                pictures += [outline(imgs[0], mask, (-1, 1, -1)), outline(imgs[1], tmask, (1, -1, -1))]
        print(f"| {part} | {statistics.mean(errors):.2f} | {statistics.pstdev(errors):.2f} | {len(errors)} |")
    save_image_grid(F.interpolate(torch.cat(pictures), scale_factor=3, mode="nearest"),
                    os.path.join(out_dir, "roi_matches.png"), cols=8, pad=2)


def paste_locality(g, cat, pairs: int, out_dir: str, settings: PasteSettings, picture: bool = True):
    steps_report = (5, 10, 25, 50, 100, 200)
    pictured = (25, 50, 100, 200)
    settings = replace(settings, steps=max(steps_report), preview_every=5)
    print(f"\npaste locality: {pairs} pairs per part, Adam lr {settings.lr}, gamma {settings.gamma}, "
          f"feature map {settings.feature_layer or default_feature_layer(g)}, first {settings.layers} W+ rows; "
          f"squared CIELAB error vs the target")
    print("| part | steps | In-MSE | Out-MSE |\n|---|---|---|---|")
    strip, trends = [], {}
    for part in ("mouth", "eyes"):
        refs = sample_latents(g, 5000, pairs, 0.7)
        tgts = sample_latents(g, 6000, pairs, 0.7)
        ref_masks = catalog_mask(g, cat, refs, part)
        rows = {s: ([], []) for s in steps_report}
        for i in range(pairs):
            if ref_masks[i].sum() < 4:
                continue
            match, tmask = detect_roi(g, tgts.select(i), refs.select(i), ref_masks[i])
            res = paste(g, tgts.select(i), refs.select(i), ref_masks[i], match, settings)
            base = render(g, tgts.select(i))
            shots = dict(res.trajectory)
            for s in steps_report:
                err = lab_squared_error(base, shots[s])
                a, b = in_out_mse(err, tmask[None])
                rows[s][0].append(float(a))
                rows[s][1].append(float(b))
            if i < 3:
                strip.append(torch.cat([render(g, refs.select(i)), base] + [shots[s] for s in pictured]))
        for s in steps_report:
            print(f"| {part} | {s} | {statistics.mean(rows[s][0]):.2f} | {statistics.mean(rows[s][1]):.2f} |")
        trends[part] = [statistics.mean(rows[s][1]) for s in steps_report]
    for part, out in trends.items():
        print(f"{part}: Out-MSE " + " -> ".join(f"{v:.1f}" for v in out) + f" at steps {steps_report}; "
              + "; ".join(f"{a}->{b} {'shrinks' if out[j + 1] < out[j] else 'grows'}"
                          for j, (a, b) in enumerate(zip(steps_report, steps_report[1:]))))
    if picture:
        save_image_grid(F.interpolate(torch.cat(strip), scale_factor=2),
                        os.path.join(out_dir, "paste_trajectory.png"), cols=6, pad=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=200)
    p.add_argument("--pairs", type=int, default=200)
    p.add_argument("--paste-pairs", type=int, default=20)
    p.add_argument("--no-pictures", dest="pictures", action="store_false",
                   help="do not rewrite docs/paste_trajectory.png (for extra settings runs)")
    p.add_argument("--paste-configs", default="0.05:0.1,0.05:0.3,0.2:0.1",
                   help="lr:gamma[:feature map[:W+ rows]] of the locality runs, e.g. 0.05:0.1:b64:6 "
                        "(the first one makes the picture)")
    args = apply_common_args(add_common_args(p).parse_args(argv))
    if args.cases:
        transform_recovery(args.cases)
    g = load_embedded_generator(device="cpu")
    cat = load_embedded_catalog(g)
    if args.pairs:
        table1(g, cat, args.pairs, args.out)
    for i, config in enumerate(args.paste_configs.split(",")):
        parts = config.split(":")
        settings = PasteSettings(lr=float(parts[0]), gamma=float(parts[1]),
                                 feature_layer=parts[2] if len(parts) > 2 and parts[2] else None,
                                 layers=int(parts[3]) if len(parts) > 3 else 6)
        paste_locality(g, cat, args.paste_pairs, args.out, settings, picture=i == 0 and args.pictures)


if __name__ == "__main__":
    main()
