"""Pivotal tuning (Roich et al. 2022), as Adaptive Paste-GAN uses it for real images.

A COPY of the generator's synthesis weights is fine-tuned so that the pivot latent (from
inversion) reproduces the image almost exactly; the mapping network and w stay fixed, so
every editing node works unchanged on the tuned copy. The original is never modified.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from ..generators.base import require_w_space
from ..identity import model_identity
from ..metrics import psnr
from .autograd import normal_tensor, trainable
from .invert import InvertSettings, prepare_images, reconstruction_loss


@dataclass
class TuneSettings:
    steps: int = 200
    lr: float = 3e-4
    l1_weight: float = 1.0
    ssim_weight: float = 1.0


def pivotal_tune(generator, images: torch.Tensor, latents, settings: TuneSettings | None = None, on_step=None):
    """Returns ``(tuned_copy, psnr_before, psnr_after)`` for images [B, C, H, W] in [-1, 1]."""
    require_w_space(generator, "Pivotal tuning")
    st = settings or TuneSettings()
    if latents.batch_size != images.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {latents.batch_size} latents: give one pivot per image")
    if st.steps < 1:
        raise ValueError("steps must be at least 1")
    loss_cfg = InvertSettings(l1_weight=st.l1_weight, ssim_weight=st.ssim_weight)
    with trainable():
        target, _ = prepare_images(normal_tensor(images), generator.resolution)
        tuned = copy.deepcopy(generator)
        tuned.requires_grad_(False)
        params = [p for p in tuned.synthesis_net.parameters()]
        for p in params:
            p.requires_grad_(True)
        target = target.to(tuned.device)
        ws = normal_tensor(latents.ws_for(tuned))
        noise = latents.noise_for(tuned)
        with torch.no_grad():
            before = psnr(tuned.synthesis(ws, noise=noise), target).mean().item()
        opt = torch.optim.Adam(params, lr=st.lr)
        for step in range(1, st.steps + 1):
            img = tuned.synthesis(ws, noise=noise)
            loss = reconstruction_loss(img, target, loss_cfg).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_step is not None:
                on_step(step, st.steps, img.detach()[0].cpu() if step % 25 == 0 else None)
        tuned.requires_grad_(False).eval()
        with torch.no_grad():
            after = psnr(tuned.synthesis(ws, noise=noise), target).mean().item()
    tuned.invalidate_fingerprint()
    tuned.base_fingerprint = getattr(generator, "base_fingerprint", None) or generator.fingerprint()
    tuned.base_identity = getattr(generator, "base_identity", None) or model_identity(generator)
    tuned.name = f"{generator.name}-pti"
    return tuned, before, after
