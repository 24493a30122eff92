"""LELSD locality vs global baselines at matched total change (the paper's Fig. 4 kind of result).

Per part (the shipped catalog's labels): learned directions in W, W+ and S (reference schedule,
K = 1, masks from the catalog), the SeFa top direction, the most local of SeFa's top 10 (picked
on the training seed's samples: a stronger global baseline) and a first-order baseline (the
normalised mean W+ gradient of the part's summed pixel values). Each is swept over strengths
on held-out samples (seed 1000; half move +alpha, half -alpha) and measured by

- the image-level localisation score sum(d * m) / sum(d), d = squared RGB change, m = mean of
  the original's and the edited image's catalog part masks (what the learner optimises, at 64 px);
- the CIELAB In-MSE / Out-MSE of the part (squared Delta E76 inside / outside the ORIGINAL's part
  mask from MediaPipe FaceMesh when it is installed — an independent segmenter — else the catalog's);

at matched amounts of total change (mean squared RGB change over the image), by interpolating
each sweep in log(total change). ``--k2`` adds K = 2 W+ directions per part (their |corr| and the
score of each); ``--save-embedded`` writes the learned W+ directions to models/embedded/.

    python scripts/eval_lelsd.py [--parts eyes,mouth,nose] [--samples 200] [--batches 0] [--k2] [--save-embedded]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, apply_common_args, load_pack, save_results  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import EMBEDDED_DIR, load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.identity import identity_meta  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.io import save_directions  # noqa: E402
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.directions import (CatalogMasks, Directions, LearnSettings,  # noqa: E402
                                                latent_scale, learn_directions, sefa_directions,
                                                traverse, traverse_latents)
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402

STRENGTHS = np.geomspace(0.03, 3.0, 7)     # units of each direction's scale
LEVELS = 4                                  # matched total-change levels reported per part


def first_order(g, cat, part, n=32, seed=0) -> Directions:
    lat = sample_latents(g, seed, n, 0.7)
    mask = catalog_mask(g, cat, lat, part, soft=True)[:, None]
    ws = lat.ws.clone().requires_grad_(True)
    (g.synthesis(ws) * mask).sum().backward()
    u = F.normalize(ws.grad.mean(0).flatten(), dim=0)
    return Directions(space="w+", vectors=u[None], part=part, scale=latent_scale(g, "w+"),
                      meta={**identity_meta(g), "method": "first-order"})


class Sweeper:
    """Moves held-out latents along one direction and measures the edit against the originals."""

    def __init__(self, g, cat, part, lat, ref_masks):
        self.g, self.cat, self.part, self.lat = g, cat, part, lat
        with torch.no_grad():
            self.base = g.synthesis(lat.ws)
        self.cat_mask0 = catalog_mask(g, cat, lat, part, soft=True)
        self.ref_masks = ref_masks            # [B, H, W] hard masks of the originals (MediaPipe or catalog)
        self.part_masks = CatalogMasks(g, cat, part)

    def edit(self, d: Directions, index: int, strength: float):
        """Images of every sample moved by +-strength (sign by sample half) and their soft part masks,
        both from one synthesis (the mask from the catalog layer that synthesis passes through)."""
        n = self.lat.batch_size
        imgs, masks = [], []
        for idx, s in ((range(0, n // 2), strength), (range(n // 2, n), -strength)):
            moved = traverse_latents(self.g, self.lat.select(list(idx)), d, index, [s])
            with torch.no_grad():
                img, feats = self.g.synthesis_from_styles(moved.styles_for(self.g), taps=[self.cat.layer],
                                                          noise=moved.noise_for(self.g))
            size = (self.g.resolution, self.g.resolution)
            masks.append(F.interpolate(self.part_masks(feats), size=size, mode="bilinear",
                                       align_corners=False)[:, 0].clamp(0, 1))
            imgs.append(img.float())
        return torch.cat(imgs), torch.cat(masks)

    def measure(self, d: Directions, index: int, strength: float) -> dict:
        img, mask1 = self.edit(d, index, strength)
        diff = (img - self.base).square().mean(1)
        m = (self.cat_mask0 + mask1) / 2
        score = (diff * m).flatten(1).sum(1) / (diff.flatten(1).sum(1) + 1e-6)
        inside, outside = in_out_mse(lab_squared_error(self.base, img), self.ref_masks)
        return {"strength": strength, "total": float(diff.mean()), "score": float(score.mean()),
                "in": float(inside.nanmean()), "out": float(outside.nanmean())}

    def sweep(self, d: Directions, index: int = 0) -> list:
        return [self.measure(d, index, float(s)) for s in STRENGTHS]


def at_level(rows, level, key):
    t = np.log([r["total"] for r in rows])
    order = np.argsort(t)
    if not t.min() <= np.log(level) <= t.max():
        return float("nan")
    return float(np.interp(np.log(level), t[order], np.array([r[key] for r in rows])[order]))


def reference_masks(g, lat, part, cat):
    """Hard part masks of the originals: MediaPipe FaceMesh if installed, else the catalog's."""
    try:
        from _face_reference import FaceReference, to_uint8
    except ImportError:
        FaceReference = None
    if FaceReference is not None:
        try:
            ref = FaceReference()
        except SystemExit:
            ref = None
        if ref is not None:
            with torch.no_grad():
                imgs = g.synthesis(lat.ws)
            lm = ref.landmarks(to_uint8(imgs))
            masks = torch.from_numpy(ref.part_masks(lm, g.resolution)[part]).float()
            found = ~np.isnan(lm).any(axis=(1, 2))
            masks[~torch.from_numpy(found)] = float("nan")      # no face: excluded from In/Out-MSE
            return masks, f"MediaPipe FaceMesh ({int(found.sum())}/{len(found)} faces found)"
    return catalog_mask(g, cat, lat, part), "catalog (MediaPipe not installed)"


def most_local_sefa(g, cat, part, top=10) -> tuple[Directions, int]:
    """The SeFa direction among the top ``top`` with the best score on the training seed's samples."""
    sefa = sefa_directions(g, top)
    probe = Sweeper(g, cat, part, sample_latents(g, 0, 32, 0.7), catalog_mask(g, cat, sample_latents(g, 0, 32, 0.7),
                                                                                part))
    scores = [probe.measure(sefa, i, 0.5)["score"] for i in range(top)]
    best = int(np.argmax(scores))
    one = Directions(space="w", vectors=sefa.vectors[best:best + 1].clone(), part="", scale=sefa.scale,
                     meta={**sefa.meta, "picked": best})
    return one, best


def strip_for(sweeper, methods, levels, sample=0):
    """Rows: methods; columns: original, then the sample at each matched total-change level."""
    rows = []
    for name, (d, rows_data) in methods.items():
        t = np.log([r["total"] for r in rows_data])
        order = np.argsort(t)
        tiles = [sweeper.base[sample:sample + 1]]
        for lv in levels:
            s = float(np.exp(np.interp(np.log(lv), t[order], np.log([r["strength"] for r in rows_data])[order])))
            img, _ = traverse(sweeper.g, sweeper.lat.select([sample]), d, 0, [s])
            tiles.append(img)
        rows.append(torch.cat(tiles))
    return torch.cat(rows)


def main():
    ap = add_common_args(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    ap.add_argument("--parts", default="eyes,mouth,nose")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--batches", type=int, default=0, help="training batches (0 = the reference 200 * K)")
    ap.add_argument("--k2", action="store_true", help="also learn K = 2 W+ directions per part")
    ap.add_argument("--save-embedded", action="store_true", help="write the W+ directions to models/embedded/")
    args = apply_common_args(ap.parse_args())
    g = load_embedded_generator()
    cat = load_embedded_catalog(g)
    lat = sample_latents(g, 1000, args.samples, 0.7)
    lines = [f"LELSD locality on faces64 ({cat.describe()}); {args.samples} held-out samples (seed 1000, psi 0.7, "
             f"half +strength, half -strength); learned K=1 with {args.batches or 'the reference 200'} batches "
             f"of 4, Adam 1e-3, training strengths up to 0.25; strengths swept "
             f"{', '.join(f'{s:.3g}' for s in STRENGTHS)} (units of each direction's scale); "
             f"values interpolated at matched total change (mean squared RGB change, images in [-1, 1])"]
    print(lines[0], flush=True)
    strips, summary = [], []
    for part in [p.strip() for p in args.parts.split(",") if p.strip()]:
        masks, mask_kind = reference_masks(g, lat, part, cat)
        sw = Sweeper(g, cat, part, lat, masks)
        learned, times = {}, {}
        for space in ("w", "w+", "s"):
            t0 = time.perf_counter()
            learned[space] = learn_directions(g, CatalogMasks(g, cat, part),
                                              LearnSettings(space=space, batches=args.batches))
            times[space] = time.perf_counter() - t0
        best, best_i = most_local_sefa(g, cat, part)
        dirs = {"LELSD W": learned["w"], "LELSD W+": learned["w+"], "LELSD S": learned["s"],
                "SeFa top": sefa_directions(g, 1), f"SeFa #{best_i + 1} (most local of 10)": best,
                "first-order": first_order(g, cat, part)}
        methods = {name: (d, sw.sweep(d)) for name, d in dirs.items()}
        lo = max(min(r["total"] for r in rows) for _, rows in methods.values())
        hi = min(max(r["total"] for r in rows) for _, rows in methods.values())
        levels = list(np.geomspace(lo, hi, LEVELS)) if hi > lo else [lo]
        lines.append(f"\n{part}: catalog part area {float(sw.cat_mask0.mean()):.3f} of the image; In/Out masks: "
                     f"{mask_kind}; training (score first batch -> last tenth, seconds): "
                     + "; ".join(f"{s.upper()} {learned[s].meta['score_first']:.3f} -> "
                                 f"{learned[s].meta['score_last_tenth']:.3f}, {times[s]:.0f} s" for s in learned))
        lines.append(f"| {part}: method | " + " | ".join(f"total change {lv:.4f}: score / In / Out" for lv in levels)
                     + " |")
        lines.append("|---|" + "---|" * len(levels))
        for name, (d, rows) in methods.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{at_level(rows, lv, 'score'):.3f} / {at_level(rows, lv, 'in'):.1f} / {at_level(rows, lv, 'out'):.2f}"
                for lv in levels) + " |")
        lines.append(f"raw sweeps ({part}; strength: total change, score):")
        for name, (d, rows) in methods.items():
            lines.append(f"  {name}: " + ", ".join(f"{r['strength']:.3g}: {r['total']:.4f}, {r['score']:.3f}"
                                                   for r in rows))
        top = levels[-1]
        lel = max(at_level(methods[n][1], top, "score") for n in ("LELSD W", "LELSD W+", "LELSD S"))
        base = max(at_level(rows, top, "score") for n, (_, rows) in methods.items() if not n.startswith("LELSD"))
        summary.append(f"{part}: at the largest matched change ({top:.4f}) best LELSD score {lel:.3f} vs best "
                       f"baseline {base:.3f} -> {'LELSD more local' if lel > base else 'NOT more local'}")
        print("\n".join(lines[-(len(methods) * 2 + 4):]), flush=True)
        strips.append(strip_for(sw, methods, levels))
        if args.k2:
            t0 = time.perf_counter()
            two = learn_directions(g, CatalogMasks(g, cat, part), LearnSettings(space="w+", k=2, batches=args.batches))
            corr = float((two.vectors[0] @ two.vectors[1]).abs())
            s2 = [sw.measure(two, i, 0.25)["score"] for i in range(2)]
            s1 = sw.measure(learned["w+"], 0, 0.25)["score"]
            sf = sw.measure(dirs["SeFa top"], 0, 0.25)["score"]
            ok = corr < 0.3 and min(s2) > 2 * sf
            summary.append(f"{part}: K=2 W+ ({time.perf_counter() - t0:.0f} s): |corr| {corr:.3f}; scores at "
                           f"strength 0.25: {s2[0]:.3f}, {s2[1]:.3f} (K=1 W+ {s1:.3f}, SeFa top {sf:.3f}, catalog "
                           f"part area {float(sw.cat_mask0.mean()):.3f}) -> "
                           f"{'distinct and both local (>2x SeFa)' if ok else 'NOT both distinct and local'}")
            print(summary[-1], flush=True)
        if args.save_embedded:
            path = os.path.join(EMBEDDED_DIR, f"faces64_dir_{part}.safetensors")
            save_directions(learned["w+"], path)
            print(f"wrote {path}", flush=True)
    lines += ["", "summary:"] + summary
    save_image_grid(F.interpolate(torch.cat(strips), scale_factor=2), os.path.join(args.out, "lelsd_strips.png"),
                    cols=LEVELS + 1, pad=2)
    save_results("eval_lelsd.txt", lines)


if __name__ == "__main__":
    main()
