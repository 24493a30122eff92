"""Adaptive Paste-GAN local editing: optimise W+ so the target's ROI takes the reference's part.

Loss (Sec. 3.3 of the paper), on one editable feature map F at its own resolution (the
paper resizes F to the image size first; up-sampling adds no information but costs memory
that grows with the image: ~17 GiB at 1024 px for a 512-channel map):

    L = || Reshape(M_s F_s) - M_t F ||_1  +  gamma || (1 - M_t) F_t - (1 - M_t) F ||_1

Reshape moves the reference's masked features onto the target ROI with the match's scale
and rotation. Only the first ``layers`` rows of W+ (the semantic ones) are optimised,
starting from the target's codes; Adam, lr 0.05. Early steps transfer semantics, later
ones make the edit more local: intermediate images are streamed so a user can stop at
the trade-off they like. The result stays in W+, so edits can be chained.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..latents import Latents
from .autograd import normal_tensor, trainable
from .deformable_match import MatchResult, warp_to_target


@dataclass
class PasteSettings:
    steps: int = 100
    lr: float = 0.05
    gamma: float = 0.1                  # outside weight per pixel (the outside is most of the image)
    layers: int = 6
    feature_layer: str | None = None    # default: the block output nearest 32x32
    preview_every: int = 10


@dataclass
class PasteResult:
    latents: Latents               # final W+ codes
    image: torch.Tensor            # [1, C, H, W] final image
    trajectory: list = field(default_factory=list)   # (step, image [1,C,H,W]) every preview_every steps
    losses: list = field(default_factory=list)
    steps_done: int = 0


def default_feature_layer(generator) -> str:
    blocks = [l for l in generator.layers() if l.kind == "block"]
    return min(blocks, key=lambda l: (abs(l.resolution - 32), -l.resolution)).name


def _features(generator, ws, layer, noise=None):
    styles = generator.styles(ws)
    _, feats = generator.synthesis_from_styles(styles, taps=[layer], return_image=False, noise=noise)
    return feats[layer]


def paste(generator, target: Latents, reference: Latents, ref_mask: torch.Tensor, match: MatchResult,
          settings: PasteSettings | None = None, on_step=None) -> PasteResult:
    """Optimise the target's first W+ rows towards the reference part found by ``match``."""
    st = settings or PasteSettings()
    if target.batch_size != 1 or reference.batch_size != 1:
        raise ValueError("latent paste takes one target and one reference latent")
    if not 1 <= st.layers <= generator.num_ws:
        raise ValueError(f"layers must be in 1..{generator.num_ws}")
    if st.steps < 1:
        raise ValueError("steps must be at least 1")
    layer = st.feature_layer or default_feature_layer(generator)
    size = generator.layer(layer).resolution       # the loss lives on the feature map's own grid
    m = ref_mask.float().to(generator.device)
    if m.ndim == 3:
        m = m[0]
    m = F.interpolate(m[None, None], size=(size, size), mode="bilinear", align_corners=False,
                      antialias=m.shape[-1] > size)
    with trainable():
        w_t = normal_tensor(target.ws_for(generator))
        w_r = normal_tensor(reference.ws_for(generator))
        n_t = {k: normal_tensor(v) for k, v in (target.noise_for(generator) or {}).items()} or None
        n_r = reference.noise_for(generator)
        with torch.no_grad():
            f_t = _features(generator, w_t, layer, n_t)
            f_r = _features(generator, w_r, layer, n_r)
            m_t = warp_to_target(m, match, size).clamp(0, 1)                 # [1, 1, H, W]
            f_ref = warp_to_target(f_r * m, match, size)                      # Reshape(M_s F_s)
        head = w_t[:, :st.layers].clone().requires_grad_(True)
        tail = w_t[:, st.layers:]
        opt = torch.optim.Adam([head], lr=st.lr)
        result = PasteResult(latents=target, image=None)
        # The paper's plain L1 norms (sums over pixels), divided by one constant for scale only:
        # per pixel, outside counts gamma times inside, so the large outside region dominates
        # once the edit spreads, which is what makes later steps more local.
        denom = float(f_t[0].numel())
        for step in range(1, st.steps + 1):
            ws = torch.cat([head, tail], dim=1)
            f = _features(generator, ws, layer, n_t)
            loss = ((f_ref - m_t * f).abs().sum() + st.gamma * ((1 - m_t) * (f_t - f)).abs().sum()) / denom
            opt.zero_grad()
            loss.backward()
            opt.step()
            result.losses.append(float(loss.detach()))
            result.steps_done = step
            preview = None
            if step % st.preview_every == 0 or step == st.steps:
                with torch.no_grad():
                    preview = generator.synthesis(torch.cat([head, tail], dim=1), noise=n_t).float().cpu()
                result.trajectory.append((step, preview))
            if on_step is not None:
                on_step(step, st.steps, None if preview is None else preview[0])
        with torch.no_grad():
            final = torch.cat([head, tail], dim=1).detach()
            result.image = result.trajectory[-1][1]
    result.latents = Latents(ws=final.cpu(), space="w+", noise=target.noise, source={"edit": "latent_paste", "steps": st.steps,
                                                                "gamma": st.gamma, "layers": st.layers,
                                                                "feature_layer": layer})
    return result
