"""Inversion on the embedded face model: generated images with known latents, and real-model faces.

1. N generated images (seeded, truncation 0.7): projection in W and in W+, with the noise
   maps fixed to the checkpoint's constant noise (as the images were made) and fitted;
   reports PSNR and the Pearson correlation of the recovered W/W+ codes with the truth, after
   Adam and after a Levenberg-Marquardt polish (all W projections, the first few W+ ones);
2. faces from the real DCGAN of `gan-face-generate` (out of the model's distribution):
   PSNR/SSIM after W+ projection and after pivotal tuning.

    pip install --no-deps gan-face-generate==1.1.1
    python scripts/eval_invert.py [--samples 20] [--faces 10] [--steps 300] [--out docs]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, add_model_arg, apply_common_args, load_model, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import psnr, ssim  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402
from gan_local_edit.core.ops.invert import InvertSettings, invert  # noqa: E402
from gan_local_edit.core.ops.latent_refine import polish_latents  # noqa: E402
from gan_local_edit.core.ops.pivotal_tuning import TuneSettings, pivotal_tune  # noqa: E402


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def polish_rows(g, res, truth, rows, steps, count):
    """Levenberg-Marquardt polish (core.ops.latent_refine) of the first ``count`` projections:
    (PSNRs, correlations) after it."""
    noise = None if res.latents.noise is None else {k: v[:count] for k, v in res.latents.noise.items()}
    ws, _ = polish_latents(g, res.latents.ws[:count], rows, noise, res.target[:count], steps)
    with torch.no_grad():
        img = g.synthesis(ws, noise=noise)
    return psnr(img, res.target[:count]).tolist(), [correlation(ws[i], truth.ws[i]) for i in range(count)]


def table_row(space, noise, stage, psnrs, cors):
    print(f"| {space} | {noise} | {stage} | {len(psnrs)} | {statistics.mean(psnrs):.2f} | {min(psnrs):.2f} | "
          f"{statistics.mean(cors):.4f} | {min(cors):.4f} |")


def known_latents(g, n, steps, polish_steps, plus_polish, out_dir):
    lat = sample_latents(g, 77, n, 0.7)
    img = render(g, lat)
    print(f"{n} generated images with known latents, Adam {steps} steps with 4 starts, then (rows marked LM) "
          f"the best start polished by Levenberg-Marquardt on the pixel MSE")
    print("| space | noise | stage | images | mean PSNR (dB) | min PSNR | mean corr(w, truth) | min corr |\n"
          "|---|---|---|---|---|---|---|---|")
    shown = [img[:6]]
    for space in ("w", "w+"):
        rows = 1 if space == "w" else g.num_ws
        for fit_noise in (False, True):
            noise = "fitted" if fit_noise else "constant"
            res = invert(g, img, InvertSettings(space=space, steps=steps, optimize_noise=fit_noise))
            cors = [correlation(res.latents.ws[i], lat.ws[i]) for i in range(n)]
            table_row(space.upper(), noise, "Adam", res.psnr, cors)
            count = n if space == "w" else min(n, plus_polish)
            if polish_steps and count:
                p_pol, c_pol = polish_rows(g, res, lat, rows, polish_steps, count)
                table_row(space.upper(), noise, f"Adam + {polish_steps} LM", p_pol, c_pol)
            if not fit_noise:
                shown.append(res.reconstruction[:6])
    save_image_grid(F.interpolate(torch.cat(shown), scale_factor=2), os.path.join(out_dir, "invert_known.png"),
                    cols=6, pad=2)


def real_faces(g, n, steps, tune_steps, polish_steps, out_dir):
    from face_teacher import FaceTeacher
    teacher = FaceTeacher()
    faces = teacher(torch.randn(n, teacher.z_dim, generator=torch.Generator().manual_seed(99)))
    res = invert(g, faces, InvertSettings(space="w+", steps=steps))
    tuned, before, after = pivotal_tune(g, faces, res.latents, TuneSettings(steps=tune_steps))
    with torch.no_grad():
        recon_pti = tuned.synthesis(res.latents.ws.to(tuned.device), noise=res.latents.noise_for(tuned)).cpu()
    p_pti, s_pti = psnr(recon_pti, faces), ssim(recon_pti, faces, per_image=True)
    print(f"\n{n} faces of the real DCGAN (out of the model), W+ projection {steps} steps, "
          f"then pivotal tuning {tune_steps} steps")
    print("| stage | mean PSNR (dB) | mean SSIM |\n|---|---|---|")
    print(f"| projection | {statistics.mean(res.psnr):.2f} | {statistics.mean(res.ssim):.4f} |")
    print(f"| + pivotal tuning | {float(p_pti.mean()):.2f} | {float(s_pti.mean()):.4f} |")
    if polish_steps:
        w_res = invert(g, faces, InvertSettings(space="w", steps=steps, refine_steps=polish_steps))
        before = statistics.mean(b for b, _ in w_res.refine_psnr)
        print(f"| (for comparison) W projection {steps} steps: PSNR {before:.2f}; + {polish_steps} LM | "
              f"{statistics.mean(w_res.psnr):.2f} | {statistics.mean(w_res.ssim):.4f} |")
    save_image_grid(F.interpolate(torch.cat([faces[:6], res.reconstruction[:6], recon_pti[:6]]), scale_factor=2),
                    os.path.join(out_dir, "invert_real.png"), cols=6, pad=2)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--faces", type=int, default=10)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--tune-steps", type=int, default=200)
    p.add_argument("--polish-steps", type=int, default=5, help="Levenberg-Marquardt steps after Adam (0: none)")
    p.add_argument("--plus-polish", type=int, default=4,
                   help="W+ projections to polish too (each W+ step costs 10x a W step on faces64)")
    args = apply_common_args(add_common_args(add_model_arg(p)).parse_args(argv))
    g = load_model(args)
    known_latents(g, args.samples, args.steps, args.polish_steps, args.plus_polish, args.out)
    if args.faces > 0:    # --faces 0: known latents only (e.g. to compare candidate models quickly)
        real_faces(g, args.faces, args.steps, args.tune_steps, args.polish_steps, args.out)


if __name__ == "__main__":
    main()
