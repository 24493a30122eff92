"""How much of W does the embedded model's image actually depend on?

Inversion can only recover the parts of w that change the image. For n sampled w (truncation
0.7) this computes the Jacobian of the image with respect to w (one w fed to every layer)
and reports its singular values, and the share of the w spread (w - w_avg of the samples)
that lies in directions whose singular value is below 1 % / 5 % / 10 % of the largest: those
directions move the image by less than that fraction of the most visible one, so a
first-order projection (Adam) that matches the image to within a few dB barely moves along
them; a Gauss-Newton polish (core.ops.latent_refine) solves for them too.

    python scripts/eval_w_identifiability.py [--samples 8]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import add_common_args, add_model_arg, apply_common_args, load_model, load_pack  # noqa: E402

load_pack()
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402


def image_jacobian(g, w: torch.Tensor) -> torch.Tensor:
    """d image / d w for one w [w_dim] broadcast to every layer: [pixels, w_dim]."""
    def render(v):
        return g.synthesis(v.view(1, 1, -1).expand(1, g.num_ws, -1)).flatten()
    return torch.func.jacfwd(render)(w)       # 256 tangents: far lighter than 12288 cotangents


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--samples", type=int, default=8)
    args = apply_common_args(add_common_args(add_model_arg(p), out=False).parse_args(argv))
    g = load_model(args).requires_grad_(False)
    ws = sample_latents(g, 77, args.samples, 0.7).ws[:, 0]
    spread = ws - ws.mean(0, keepdim=True)
    shares = {0.01: [], 0.05: [], 0.1: []}
    spectra = []
    for w in ws:
        _, sv, vh = torch.linalg.svd(image_jacobian(g, w.clone()), full_matrices=False)
        spectra.append(sv / sv[0])
        energy = (spread @ vh.t()).square().sum(0)                       # spread along each direction
        for cut in shares:
            shares[cut].append(float(energy[sv < cut * sv[0]].sum() / energy.sum()))
    rel = torch.stack(spectra)
    print(f"faces64: image Jacobian w.r.t. w ({g.w_dim} dims), {args.samples} samples at truncation 0.7")
    print("relative singular values (mean over samples) at ranks 1, 16, 32, 64, 128, 192, 256: "
          + ", ".join(f"{float(rel[:, i - 1].mean()):.4f}" for i in (1, 16, 32, 64, 128, 192, 256)))
    for cut, vals in shares.items():
        print(f"share of the w spread in directions below {int(cut * 100)} % of the top singular value: "
              f"{100 * statistics.mean(vals):.1f} %")


if __name__ == "__main__":
    main()
