"""Deformable Match + Latent Paste between an inverted photo and a sampled face, both ways.

The photo (``workflows/input/gle_face_a.png``) is inverted into W+ with fitted noise maps, as the
Invert Image node does; the other face is a seeded sample (the checkpoint's noise). The
reference part is the shipped catalog's mouth mask of the reference. For each direction the
script reports the match and the paste's squared CIELAB error against the target's own image
inside / outside the found ROI, and writes one picture row per direction (reference with its
mask, target with the ROI, paste after 25 and 50 steps).

    python3 scripts/eval_paste_photo.py [--invert-steps 150] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, add_common_args, apply_common_args, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import outline, save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import in_out_mse, lab_squared_error  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.deformable_match import detect_roi  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.invert import InvertSettings, invert  # noqa: E402
from gan_local_edit.core.ops.latent_paste import PasteSettings, paste  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--invert-steps", type=int, default=150)
    p.add_argument("--sample-seed", type=int, default=2000)
    p.add_argument("--part", default="mouth")
    args = apply_common_args(add_common_args(p).parse_args(argv))
    g = load_embedded_generator(device="cpu")
    cat = load_embedded_catalog(g)
    pic = np.asarray(Image.open(os.path.join(ROOT, "workflows", "input", "gle_face_a.png")).convert("RGB"), np.float32)
    image = torch.from_numpy(pic / 127.5 - 1).permute(2, 0, 1)[None]
    inv = invert(g, image, InvertSettings(steps=args.invert_steps, starts=2))
    photo = inv.latents
    face = sample_latents(g, args.sample_seed, 1, 0.7)
    print(f"photo: gle_face_a.png inverted into W+ ({args.invert_steps} steps, 2 starts, fitted noise maps: "
          f"{len(photo.noise or {})}); PSNR {inv.psnr[0]:.2f} dB")
    print(f"sample: seed {args.sample_seed}, psi 0.7 (no noise maps); part: {args.part} (shipped catalog)")
    print("| target | reference | ROI centre (px) | scale | angle | similarity | steps | In-MSE | Out-MSE |")
    print("|---|---|---|---|---|---|---|---|---|")
    rows = []
    for t_name, target, r_name, reference in (("photo", photo, "sample", face), ("sample", face, "photo", photo)):
        mask = catalog_mask(g, cat, reference, args.part)[0]
        match, tmask = detect_roi(g, target, reference, mask)
        res = paste(g, target, reference, mask, match, PasteSettings(steps=50, preview_every=25))
        base, ref_img = render(g, target), render(g, reference)
        (x, y), _ = match.to_pixels(g.resolution)
        for step, img in res.trajectory:
            inside, outside = in_out_mse(lab_squared_error(base, img), tmask[None])
            print(f"| {t_name} | {r_name} | ({x:.1f}, {y:.1f}) | {match.scale:.3f} | {match.angle:+.1f} | "
                  f"{match.score:.3f} | {step} | {float(inside):.2f} | {float(outside):.2f} |")
        rows.append(torch.cat([outline(ref_img, mask, (-1, 1, -1)), outline(base, tmask, (1, -1, -1))]
                              + [img for _, img in res.trajectory]))
        assert res.latents.noise is target.noise
    path = os.path.join(args.out, "paste_photo.png")
    save_image_grid(F.interpolate(torch.cat(rows), scale_factor=3, mode="nearest"), path, cols=4, pad=2)
    print(f"picture: {os.path.relpath(path, ROOT)} (rows: photo <- sample, sample <- photo; columns: reference "
          f"with its mask, target with the ROI, paste after 25 and 50 steps)")


if __name__ == "__main__":
    main()
