"""GANPaint on the embedded faces64: is the dissection real, are the edits local, does adaptation
keep a photo's unedited pixels?

A. Dissection of b16.conv1 (the default paint layer) over N samples (default 200, seed 0,
   truncation 0.7) against the shipped catalog's eyes / nose / mouth masks: top units and their
   IoU, the IoU of the 4th / 10th / 15th unit (low / medium / high), and, as the control, the mean
   IoU of 15 units drawn at random (seeded) and the median over all units.
B. Locality on 50 held-out faces (seed 777): the top 4 / 10 / 15 units of mouth (and eyes) removed
   inside the catalog's region of that part; squared CIELAB error vs the unedited face inside and
   outside the region (In/Out-MSE); control: 15 random units removed in the same region.
C. Adaptation on out-of-model faces (the teacher DCGAN, seed 2027): W+ inversion (200 steps, 2
   starts), then the edit "mouth off" (top-15 mouth units in the inverted face's mouth region,
   dilated by 1 px) and G' fitted with the edit applied and the region left out of the loss (the
   paper's procedure); PSNR of the unedited pixels after 100 and 1000 steps (paper: 24.6 / 30.6 dB
   on 256 px LSUN), and the edited region's change. For the first faces also the fast preview: G'_w
   fitted 100 steps on the unedited photo, the edit rendered on it with 0 further steps, then
   finished from G'_w (warm start) with 10 / 25 / 50 steps.
Pictures: docs/ganpaint_faces.png (rows: original, mouth off, eyes off, mouth on (draw)) and
docs/ganpaint_photo.png (rows: photo, invert only, invert + adapt (G'(z), 1000 steps), painted
G'(z_e)).

    python scripts/eval_ganpaint.py [--samples 200] [--faces 20] [--long 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error  # noqa: E402
from gan_local_edit.core.ops.adapt import AdaptSettings, adapt_to_image, masked_psnr  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.dissect import STRENGTHS, dissect_with_catalog  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.invert import InvertSettings, invert  # noqa: E402
from gan_local_edit.core.ops.paint import PaintCanvas, Stroke, paint, paint_edit  # noqa: E402

LAYER = "b16.conv1"
CONCEPTS = ["eyes", "nose", "mouth"]


def say(lines, text=""):
    print(text, flush=True)
    lines.append(text)


def part_a(g, cat, samples, lines):
    t = time.time()
    table = dissect_with_catalog(g, cat, CONCEPTS, LAYER, n_samples=samples, seed=0, truncation_psi=0.7)
    c = len(table.quantiles)
    say(lines, f"A. dissection of {LAYER} ({c} units), {samples} samples (seed 0, psi 0.7), catalog masks; "
               f"{time.time() - t:.1f} s")
    say(lines, "| concept | top 5 units (IoU) | IoU of unit 4 / 10 / 15 | mean IoU top 15 | mean IoU 15 random "
               "units | median IoU all units |")
    say(lines, "|---|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(1)
    for k in CONCEPTS:
        iou_by_unit = torch.empty(c)
        iou_by_unit[table.ranking[k]] = table.iou[k]
        rand = torch.randperm(c, generator=gen)[:15]
        top = ", ".join(f"{int(u)} ({float(v):.3f})" for u, v in zip(table.ranking[k][:5], table.iou[k][:5]))
        at = " / ".join(f"{float(table.iou[k][n - 1]):.3f}" for n in STRENGTHS.values())
        say(lines, f"| {k} | {top} | {at} | {float(table.iou[k][:15].mean()):.3f} | "
                   f"{float(iou_by_unit[rand].mean()):.4f} | {float(table.iou[k].median()):.4f} |")
    return table


def part_b(g, cat, table, lines, out_dir, n=50):
    lat = sample_latents(g, 777, n, 0.7)
    base = render(g, lat)
    masks = {k: catalog_mask(g, cat, lat, k) for k in ("mouth", "eyes")}
    say(lines, f"\nB. locality on {n} held-out faces (seed 777): units removed in the part's catalog region; "
               f"squared CIELAB error vs the unedited face")
    say(lines, "| part | units | In-MSE | Out-MSE | In/Out |")
    say(lines, "|---|---|---|---|---|")
    gen = torch.Generator().manual_seed(2)
    c = len(table.quantiles)
    canvas = PaintCanvas(g, table, lat)
    pictures = {}
    ratios = {}
    for k, m in masks.items():
        rand = torch.randperm(c, generator=gen)[:15]
        for label, count in (("top 4", "low"), ("top 10", "medium"), ("top 15", "high"), ("15 random", None)):
            if count is None:
                table.ranking["_random"], table.iou["_random"] = rand, torch.zeros(15)
                img = canvas.render([Stroke("_random", m, "remove", 15)])
                del table.ranking["_random"], table.iou["_random"]
            else:
                img = canvas.render([Stroke(k, m, "remove", count)])
            i, o = in_out_mse(lab_squared_error(img, base), m)
            i, o = float(i.nanmean()), float(o.nanmean())
            ratios[(k, label)] = i / o
            say(lines, f"| {k} | {label} | {i:.2f} | {o:.2f} | {i / o:.1f} |")
            if label == "top 15":
                pictures[k] = img
    drawn = canvas.render([Stroke("mouth", masks["mouth"], "draw", "high")])
    save_image_grid(F.interpolate(torch.cat([base[:8], pictures["mouth"][:8], pictures["eyes"][:8], drawn[:8]]),
                                  scale_factor=2), os.path.join(out_dir, "ganpaint_faces.png"), cols=8, pad=2)
    say(lines, f"mouth top-15 off: In/Out {ratios[('mouth', 'top 15')]:.1f} (target >= 5)")


def part_c(g, cat, table, n, n_long, lines, out_dir, inv_steps=200):
    from face_teacher import FaceTeacher
    teacher = FaceTeacher()
    photos = teacher(torch.randn(n, teacher.z_dim, generator=torch.Generator().manual_seed(2027)))
    t = time.time()
    inv = invert(g, photos, InvertSettings(space="w+", steps=inv_steps, starts=2, seed=0))
    say(lines, f"\nC. adaptation on {n} teacher-DCGAN faces (seed 2027): W+ inversion {inv_steps} steps, 2 starts "
               f"({time.time() - t:.0f} s); edit = top-15 mouth units off in the mouth region; G' fitted with the "
               f"edit applied, region left out; first {n_long} faces to 1000 steps, the rest 100 steps")
    rows, pics = [], []
    for i in range(n):
        lat = inv.latents.select(i)
        photo = photos[i:i + 1]
        m = catalog_mask(g, cat, lat, "mouth")
        m = F.max_pool2d(m[:, None], 3, stride=1, padding=1)[:, 0]
        keep = 1 - m[:, None]
        strokes = [Stroke("mouth", m, "remove", "high")]
        edit = paint_edit(table, strokes, g.resolution)
        long = i < n_long
        steps = 1000 if long else 100
        t = time.time()
        res = adapt_to_image(g, photo, lat, m[0], AdaptSettings(steps=steps, after=LAYER, record=(100, 1000)),
                             edits=edit)
        secs = time.time() - t
        recon = inv.reconstruction[i:i + 1]
        painted = paint(res.generator, table, lat, strokes)
        lab = lab_squared_error(painted, photo)
        e_in, e_out = (float(v) for v in in_out_mse(lab, m))
        row = {"invert": masked_psnr(recon, photo, keep), "100": res.psnr_at[100],
               "1000": res.psnr_at.get(1000), "in": e_in, "out": e_out, "secs": secs / steps}
        if long:
            fast = adapt_to_image(g, photo, lat, settings=AdaptSettings(steps=100, after=LAYER, record=()))
            preview = paint(fast.generator, table, lat, strokes)
            row["preview0"] = masked_psnr(preview, photo, keep)
            warm = adapt_to_image(fast.generator, photo, lat, m[0],
                                  AdaptSettings(steps=50, after=LAYER, record=(10, 25, 50)), edits=edit)
            row["warm"] = warm.psnr_at
            if len(pics) < 6:
                with torch.no_grad():
                    pics.append((photo, recon, render(res.generator, lat), painted))
        rows.append(row)
        say(lines, f"face {i}: invert only {row['invert']:.2f} dB, G' at 100 steps {row['100']:.2f}"
                   + (f", at 1000 {row['1000']:.2f}" if row["1000"] else "")
                   + f" dB (unedited pixels); edited region In/Out CIELAB MSE {e_in:.1f} / {e_out:.2f}; "
                   + f"{1e3 * row['secs']:.0f} ms/step"
                   + (f"; preview on G'_w (0 steps) {row['preview0']:.2f} dB, warm start 10/25/50 steps "
                      + " / ".join(f"{row['warm'][s]:.2f}" for s in (10, 25, 50)) if long else ""))
    mean = lambda key, rs: statistics.mean(r[key] for r in rs)  # noqa: E731
    longs = rows[:n_long]
    say(lines, "\n| measure | faces | mean |")
    say(lines, "|---|---|---|")
    say(lines, f"| PSNR unedited, invert only | {n} | {mean('invert', rows):.2f} dB |")
    say(lines, f"| PSNR unedited, G' 100 steps (paper 24.6) | {n} | {mean('100', rows):.2f} dB |")
    say(lines, f"| PSNR unedited, G' 1000 steps (paper 30.6) | {n_long} | {mean('1000', longs):.2f} dB |")
    say(lines, f"| same faces at 100 steps | {n_long} | {mean('100', longs):.2f} dB |")
    say(lines, f"| edited region: CIELAB In-MSE / Out-MSE vs the photo | {n} | {mean('in', rows):.1f} / "
               f"{mean('out', rows):.2f} |")
    if longs:
        say(lines, f"| fast preview: edit on G'_w (fitted once, 100 steps), 0 further steps | {n_long} | "
                   f"{mean('preview0', longs):.2f} dB |")
        for s in (10, 25, 50):
            say(lines, f"| finish from G'_w, {s} steps | {n_long} | "
                       f"{statistics.mean(r['warm'][s] for r in longs):.2f} dB |")
    say(lines, f"| time per adaptation step (wall, shared machine) | {n} | {1e3 * mean('secs', rows):.0f} ms |")
    if pics:
        grid = torch.cat([torch.cat([p[k] for p in pics]) for k in range(4)])
        save_image_grid(F.interpolate(grid, scale_factor=2), os.path.join(out_dir, "ganpaint_photo.png"),
                        cols=len(pics), pad=2)


def main():
    p = add_common_args(argparse.ArgumentParser(description=__doc__))
    p.add_argument("--samples", type=int, default=200, help="dissection samples")
    p.add_argument("--faces", type=int, default=20, help="teacher faces for the adaptation")
    p.add_argument("--long", type=int, default=5, help="of those, how many are adapted for 1000 steps")
    p.add_argument("--skip-c", action="store_true", help="only parts A and B")
    args = apply_common_args(p.parse_args())
    g = load_embedded_generator(device="cpu")
    cat = load_embedded_catalog(g)
    lines = [f"eval_ganpaint: torch {torch.__version__}, {args.threads} threads"]
    table = part_a(g, cat, args.samples, lines)
    part_b(g, cat, table, lines, args.out)
    if not args.skip_c:
        part_c(g, cat, table, args.faces, min(args.long, args.faces), lines, args.out)
    name = "eval_ganpaint.txt" if not args.skip_c else "eval_ganpaint_ab.txt"
    with open(os.path.join(ROOT, "docs", "results", name), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
