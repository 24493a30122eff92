"""Projecting real images into a generator's latent space, with offline losses only.

Follows the StyleGAN2 projector's schedule (learning-rate ramp-up/down, decaying noise on
w, per-pixel noise maps optimised with an autocorrelation regulariser and renormalised
every step) with losses that need no downloaded network: pixel L1 plus multi-scale SSIM.
Several starts per image (w_avg and seeded offsets from it) are optimised together as one
batch; the best start per image is kept. Works in W (one w for all layers) or W+.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..generators.base import require_w_space
from ..imaging import centre_square
from ..latents import Latents
from ..metrics import psnr, psnr_from_mse, ssim
from .autograd import normal_tensor, trainable
from .latent_refine import polish_latents

SPACES = ("w", "w+")
MIN_SIZE = 16


@dataclass
class InvertSettings:
    space: str = "w+"
    steps: int = 300
    lr: float = 0.1
    starts: int = 4
    seed: int = 0
    start_spread: float = 0.7          # starts: w_avg + spread * (w(z_seeded) - w_avg)
    optimize_noise: bool = True
    noise_regularize: float = 1e5
    w_noise: float = 0.05              # initial noise on w, in units of the w spread
    w_noise_ramp: float = 0.75
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    l1_weight: float = 1.0
    ssim_weight: float = 1.0
    feature_weight: float = 1.0        # weight of the optional VGG16 feature distance (when a net is given)
    preview_every: int = 25
    refine_steps: int = 0              # Levenberg-Marquardt polish of the best start (latent_refine)

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.steps < 1 or self.starts < 1:
            raise ValueError("steps and starts must be at least 1")
        if self.refine_steps < 0:
            raise ValueError("refine_steps must be >= 0")


@dataclass
class InvertResult:
    latents: Latents
    reconstruction: torch.Tensor           # [B, C, H, W]
    target: torch.Tensor                   # the preprocessed images [B, C, H, W]
    psnr: list
    ssim: list
    crop: dict
    trajectory: list = field(default_factory=list)   # (step, [B, C, H, W] best-start images)
    start_losses: list = field(default_factory=list)
    refine_psnr: list = field(default_factory=list)  # per image: (PSNR before, after) the polish

    def report(self) -> str:
        lines = [f"image {i}: PSNR {p:.2f} dB  SSIM {s:.4f}" for i, (p, s) in enumerate(zip(self.psnr, self.ssim))]
        for i, (before, after) in enumerate(self.refine_psnr):
            lines.append(f"image {i}: Levenberg-Marquardt polish {before:.2f} -> {after:.2f} dB (compared at "
                         f"the polish resolution)")
        c = self.crop
        lines.append(f"input {c['width']}x{c['height']} -> centre crop {c['size']}x{c['size']} at "
                     f"({c['left']}, {c['top']}) -> {c['resolution']}x{c['resolution']}")
        return "\n".join(lines)


def prepare_images(images: torch.Tensor, resolution: int) -> tuple[torch.Tensor, dict]:
    """[B, C, H, W] in [-1, 1] (any size) -> centre-cropped square resized to the model (antialiased)."""
    if images.ndim != 4:
        raise ValueError(f"images must be [B, C, H, W], got {list(images.shape)}")
    b, c, h, w = images.shape
    if c == 4:
        raise ValueError("the image has an alpha channel: flatten it onto a background (RGB) first")
    if c not in (1, 3):
        raise ValueError(f"images must have 3 (RGB) or 1 channels, got {c}")
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"the image is {w}x{h}: too small to invert (at least {MIN_SIZE} px per side)")
    size = min(h, w)
    top, left = (h - size) // 2, (w - size) // 2
    x = centre_square(images.float(), resolution)
    if c == 1:
        x = x.repeat(1, 3, 1, 1)
    return x, {"width": w, "height": h, "size": size, "left": left, "top": top, "resolution": resolution}


def w_statistics(generator, samples: int = 10000, seed: int = 123):
    """Mean and spread (root mean squared distance) of W, from seeded samples."""
    with torch.no_grad():
        z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(seed))
        w = generator.mapping(z.to(generator.device))[:, 0]
        avg = w.mean(0)
        std = ((w - avg).square().sum(1).mean()).sqrt()
    return avg, float(std)


def reconstruction_loss(img, target, st: InvertSettings, features=None) -> torch.Tensor:
    """Per-sample L1 + (1 - multi-scale SSIM) [+ feature distance]: [B].

    ``features`` is ``(net, target_stages)`` for the optional VGG16 distance.
    """
    loss = st.l1_weight * (img - target).abs().flatten(1).mean(1)
    if st.ssim_weight:
        loss = loss + st.ssim_weight * (1 - ssim(img, target, per_image=True, multiscale=True))
    if features is not None and st.feature_weight:
        net, stages = features
        loss = loss + st.feature_weight * net.distance(img, stages)
    return loss


def noise_regularizer(maps) -> torch.Tensor:
    """Spatial autocorrelation of noise maps at several scales (StyleGAN2 projector): [B].

    ``maps`` are [B, K, r, r] tensors, K maps of one resolution each; every map is scored on
    its own (the sum over K comes last), so grouping only saves operations.
    """
    total = 0
    for n in maps:
        while True:
            total = total + ((n * torch.roll(n, 1, dims=3)).mean(dim=(2, 3)).square()
                             + (n * torch.roll(n, 1, dims=2)).mean(dim=(2, 3)).square()).sum(1)
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, 2)
    return total


def grouped_noise_maps(generator, batch: int):
    """The generator's constant noise maps as trainable tensors, one [batch, K, r, r] per
    resolution (fewer, larger operations than one tensor per map), with their layer names."""
    by_res: dict[int, list[str]] = {}
    for name, res in generator.noise_layers().items():
        by_res.setdefault(res, []).append(name)
    groups = []
    for res, names in by_res.items():
        consts = [generator._styled[n].noise_const.detach().view(1, 1, res, res) for n in names]
        groups.append((names, torch.cat(consts, dim=1).repeat(batch, 1, 1, 1).clone().requires_grad_(True)))
    return groups


def noise_views(groups) -> dict:
    """name -> [batch, 1, r, r] slice of its group, as the synthesis takes noise maps."""
    return {n: group[:, i:i + 1] for names, group in groups for i, n in enumerate(names)}


def invert(generator, images: torch.Tensor, settings: InvertSettings | None = None, on_step=None,
           feature_net=None) -> InvertResult:
    """Fit latents (and noise maps) to images [B, C, H, W] in [-1, 1].

    ``feature_net`` (optional, e.g. ``perceptual.load_vgg16(path)``) adds its feature distance.
    """
    require_w_space(generator, "Invert Image (optimisation)")
    st = settings or InvertSettings()
    g = generator
    with trainable():
        target, crop = prepare_images(normal_tensor(images), g.resolution)
        target = target.to(g.device)
        b, s = target.shape[0], st.starts
        w_avg, w_std = w_statistics(g)
        gen = torch.Generator().manual_seed(int(st.seed))
        z = torch.randn(b * s, g.z_dim, generator=gen).to(g.device)
        with torch.no_grad():
            w0 = g.mapping(z)[:, :1]
        init = w_avg.view(1, 1, -1) + st.start_spread * (w0 - w_avg.view(1, 1, -1))
        init = init.view(b, s, 1, -1)
        init[:, 0] = w_avg                                      # the first start is the average face
        rows = g.num_ws if st.space == "w+" else 1
        w_opt = init.view(b * s, 1, -1).repeat(1, rows, 1).clone().requires_grad_(True)
        named_groups = grouped_noise_maps(g, b * s) if st.optimize_noise else []
        groups = [group for _, group in named_groups]
        params = [w_opt] + groups
        opt = torch.optim.Adam(params, lr=st.lr, betas=(0.9, 0.999))
        tgt = target.repeat_interleave(s, dim=0)
        features = None
        if feature_net is not None:
            feature_net = feature_net.to(g.device)
            with torch.no_grad():
                features = (feature_net, feature_net.stages(tgt))
        result = InvertResult(latents=None, reconstruction=None, target=target.cpu(), psnr=[], ssim=[], crop=crop)
        total_steps = st.steps + b * st.refine_steps
        for step in range(1, st.steps + 1):
            t = (step - 1) / st.steps
            noise_scale = w_std * st.w_noise * max(0.0, 1.0 - t / st.w_noise_ramp) ** 2
            ramp = min(1.0, (1.0 - t) / st.lr_rampdown)
            lr = st.lr * (0.5 - 0.5 * math.cos(ramp * math.pi)) * min(1.0, t / st.lr_rampup if st.lr_rampup else 1)
            for group in opt.param_groups:
                group["lr"] = lr
            w = w_opt + torch.randn(w_opt.shape, generator=gen).to(w_opt) * noise_scale   # seeded, not global
            ws = w.expand(-1, g.num_ws, -1) if rows == 1 else w
            img = g.synthesis(ws, noise=noise_views(named_groups) or None)
            per_sample = reconstruction_loss(img, tgt, st, features)
            loss = per_sample.sum()
            if groups:
                loss = loss + st.noise_regularize * noise_regularizer(groups).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for n in groups:  # keep every map a unit-variance white-noise field
                    n -= n.mean(dim=(2, 3), keepdim=True)
                    n /= n.square().mean(dim=(2, 3), keepdim=True).sqrt().clamp_min(1e-8)
            preview = None
            if step % st.preview_every == 0 or step == st.steps:
                best = per_sample.detach().view(b, s).argmin(1) + torch.arange(b, device=g.device) * s
                preview = img.detach()[best].float().cpu()
                result.trajectory.append((step, preview))
            if on_step is not None:
                on_step(step, total_steps, None if preview is None else preview[0])
        with torch.no_grad():
            ws_final = w_opt.detach().expand(-1, g.num_ws, -1) if rows == 1 else w_opt.detach()
            final_maps = {k: v.detach().contiguous() for k, v in noise_views(named_groups).items()} or None
            img = g.synthesis(ws_final, noise=final_maps)
            per_sample = reconstruction_loss(img, tgt, st, features)
            best = per_sample.view(b, s).argmin(1) + torch.arange(b, device=g.device) * s
            result.start_losses = per_sample.view(b, s).cpu().tolist()
            ws_final, final_maps = ws_final[best], None if final_maps is None else \
                {k: v[best] for k, v in final_maps.items()}
            recon = img[best].float()
            if st.refine_steps:
                def progress(done, _total):
                    if on_step is not None:
                        on_step(st.steps + done, total_steps, None)

                ws_final, errors = polish_latents(g, ws_final, rows, final_maps, target, st.refine_steps, progress)
                result.refine_psnr = [tuple(float(psnr_from_mse(e)) for e in pair) for pair in errors]
                recon = g.synthesis(ws_final, noise=final_maps).float()
            result.psnr = psnr(recon, target).cpu().tolist()
            result.ssim = ssim(recon, target, per_image=True).cpu().tolist()
            noise = None if final_maps is None else {k: v.cpu() for k, v in final_maps.items()}
            result.latents = Latents(ws=ws_final.cpu().contiguous(), space=st.space, noise=noise,
                                     source={"edit": "inversion", "steps": st.steps, "starts": s,
                                             "refine_steps": st.refine_steps, "generator": g.fingerprint()})
            result.reconstruction = recon.cpu()
    return result

