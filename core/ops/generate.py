"""Sampling latents and rendering images: the first and last step of every workflow."""
from __future__ import annotations

from typing import Callable

import torch

from ..latents import Latents

ProgressFn = Callable[[int, int, object], None]


@torch.no_grad()
def sample_latents(generator, seed: int, count: int, truncation_psi: float = 1.0,
                   class_index: int | None = None) -> Latents:
    """Seeded z -> W+ codes. z is drawn on the CPU, so a seed gives the same faces on any device."""
    if count < 1:
        raise ValueError("count must be at least 1")
    z = torch.randn(count, generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    c = None
    if getattr(generator, "c_dim", 0):
        if class_index is None or not 0 <= class_index < generator.c_dim:
            raise ValueError(f"this generator is class-conditional: choose a class index in 0..{generator.c_dim - 1}")
        c = torch.zeros(count, generator.c_dim)
        c[:, class_index] = 1
        c = c.to(generator.device)
    ws = generator.mapping(z.to(generator.device), c, truncation_psi=truncation_psi)
    source = {"seed": int(seed), "truncation_psi": float(truncation_psi), "generator": generator.fingerprint()}
    if getattr(generator, "latent_kind", "ws") == "stylemap":
        return Latents(stylemap=ws.cpu(), space="stylemap", source=source)
    return Latents(ws=ws.cpu(), space="w", source=source)


@torch.no_grad()
def render(generator, latents: Latents, noise_mode: str = "const", noise_seed: int = 0,
           chunk: int = 8, on_step: ProgressFn | None = None) -> torch.Tensor:
    """Latents -> images [B, C, H, W] (about [-1, 1]) on the CPU, in chunks to bound memory.

    Noise maps carried by the latents (fitted by inversion) take precedence over ``noise_mode``.
    StyleMapGAN stylemaps are decoded as they are (the model has no noise inputs).
    """
    if latents.stylemap is not None or getattr(generator, "latent_kind", "ws") == "stylemap":
        return _render_stylemaps(generator, latents, chunk, on_step)
    styles = latents.styles_for(generator)
    noise = latents.noise_for(generator)
    rng = None
    if noise_mode == "random":
        rng = torch.Generator(device=generator.device).manual_seed(int(noise_seed))
    total = latents.batch_size
    out = []
    for start in range(0, total, chunk):
        part = [s[start:start + chunk] for s in styles]
        part_noise = None if noise is None else {k: v[start:start + chunk] for k, v in noise.items()}
        img = generator.synthesis_from_styles(part, noise_mode=noise_mode, generator=rng, noise=part_noise)
        out.append(img.float().cpu())
        if on_step is not None:
            on_step(min(start + chunk, total), total, None)
    return torch.cat(out)


def _render_stylemaps(generator, latents: Latents, chunk: int, on_step: ProgressFn | None) -> torch.Tensor:
    maps = latents.stylemap_for(generator)
    total, out = latents.batch_size, []
    for start in range(0, total, chunk):
        out.append(generator.synthesis(maps[start:start + chunk]).float().cpu())
        if on_step is not None:
            on_step(min(start + chunk, total), total, None)
    return torch.cat(out)
