"""Quality and speed of the embedded face model (models/embedded/faces64.safetensors).

Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018; needs no
pretrained network) between N model samples and N teacher samples at 64, 32 and 16 px,
with reference rows computed in the same run: teacher vs an independent teacher sample
(the floor) and a blurred teacher (Gaussian, sigma 1 px) as a baseline. Lower is better;
values are x1e3 as in the paper. Also writes the sample grids (truncation 0.7) and times
loading the weights and sampling 64 images.

    pip install --no-deps gan-face-generate==1.1.1
    python scripts/eval_embedded.py [--n 10000] [--out docs]
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, add_model_arg, apply_common_args, load_model, load_pack  # noqa: E402
from face_teacher import FaceTeacher  # noqa: E402

load_pack()
from gan_local_edit.core.imaging import save_image_grid  # noqa: E402
from gan_local_edit.core.metrics import gaussian_window  # noqa: E402
from gan_local_edit.core.ops.generate import render, sample_latents  # noqa: E402

LEVELS = (64, 32, 16)
PATCH = 7
PATCHES_PER_IMAGE = 128


def blur(x, sigma=1.0):
    k = gaussian_window(5, sigma).to(x)
    k = (k[:, None] * k[None, :])[None, None].repeat(x.shape[1], 1, 1, 1)
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), k, groups=x.shape[1])


def laplacian_pyramid(x):
    """[B, 3, 64, 64] -> {64: band, 32: band, 16: low-pass} (Karras et al.)."""
    levels, cur = {}, x
    for size in LEVELS[:-1]:
        down = F.avg_pool2d(blur(cur), 2)
        up = F.interpolate(down, scale_factor=2, mode="bilinear", align_corners=False)
        levels[size] = cur - up
        cur = down
    levels[LEVELS[-1]] = cur
    return levels


def descriptors(images_fn, n, seed, batch=500):
    """Random 7x7 patches of every pyramid level of n images: {level: [n*P, 147]} (normalised)."""
    gen = torch.Generator().manual_seed(seed)
    out = {s: [] for s in LEVELS}
    for start in range(0, n, batch):
        imgs = images_fn(start, min(batch, n - start))
        for size, band in laplacian_pyramid(imgs).items():
            b = band.shape[0]
            ys = torch.randint(0, size - PATCH + 1, (b, PATCHES_PER_IMAGE), generator=gen)
            xs = torch.randint(0, size - PATCH + 1, (b, PATCHES_PER_IMAGE), generator=gen)
            patches = band.unfold(2, PATCH, 1).unfold(3, PATCH, 1)     # [B, 3, P', P', 7, 7]
            bi = torch.arange(b)[:, None].expand_as(ys)
            sel = patches[bi, :, ys, xs]                                # [B, P, 3, 7, 7]
            out[size].append(sel.reshape(-1, 3 * PATCH * PATCH))
    result = {}
    for size, parts in out.items():
        d = torch.cat(parts).view(-1, 3, PATCH * PATCH)
        d = (d - d.mean(dim=(0, 2), keepdim=True)) / d.std(dim=(0, 2), keepdim=True)
        result[size] = d.view(-1, 3 * PATCH * PATCH)
    return result


def swd(a, b, directions=128, repeats=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    total = 0.0
    for _ in range(repeats):
        dirs = torch.randn(a.shape[1], directions, generator=gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pa, _ = torch.sort(a @ dirs, dim=0)
        pb, _ = torch.sort(b @ dirs, dim=0)
        total += float((pa - pb).abs().mean())
    return total / repeats * 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10000)
    args = apply_common_args(add_common_args(add_model_arg(p)).parse_args(argv))
    t0 = time.perf_counter()
    g = load_model(args)
    t_load = time.perf_counter() - t0
    lat = sample_latents(g, 0, 64, 0.7)
    render(g, lat)  # warm-up
    t0 = time.perf_counter()
    imgs = render(g, sample_latents(g, 0, 64, 0.7), chunk=64)
    t_sample = time.perf_counter() - t0
    print(f"load weights: {t_load:.3f} s;  sample 64 images (psi 0.7, one batch): {t_sample:.3f} s "
          f"({torch.get_num_threads()} threads)")
    teacher = FaceTeacher()
    save_image_grid(imgs, os.path.join(args.out, "faces64_samples.png"), cols=8)
    save_image_grid(teacher(torch.randn(64, teacher.z_dim, generator=torch.Generator().manual_seed(0))),
                    os.path.join(args.out, "teacher_samples.png"), cols=8)

    def model_images(psi, seed):
        return lambda start, count: render(g, sample_latents(g, seed + start, count, psi), chunk=100)

    def teacher_images(seed, blurred=False):
        def make(start, count):
            z = torch.randn(count, teacher.z_dim, generator=torch.Generator().manual_seed(seed + start))
            x = teacher(z)
            return blur(x) if blurred else x
        return make

    ref = descriptors(teacher_images(10 ** 6), args.n, seed=1)
    rows = [("teacher vs teacher (floor)", teacher_images(2 * 10 ** 6)),
            ("blurred teacher (baseline)", teacher_images(3 * 10 ** 6, blurred=True)),
            ("faces64, psi 1.0", model_images(1.0, 4 * 10 ** 6)),
            ("faces64, psi 0.7", model_images(0.7, 5 * 10 ** 6))]
    print(f"\nSWD x1e3 on Laplacian-pyramid 7x7 patches, {args.n} vs {args.n} images "
          f"({PATCHES_PER_IMAGE} patches per image and level)")
    print("| samples | 64 px | 32 px | 16 px | mean |\n|---|---|---|---|---|")
    for name, fn in rows:
        d = descriptors(fn, args.n, seed=2)
        vals = [swd(ref[s], d[s], seed=s) for s in LEVELS]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in vals) + f" | {sum(vals) / 3:.2f} |")


if __name__ == "__main__":
    main()
