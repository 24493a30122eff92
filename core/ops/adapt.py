"""Image-specific adaptation (GANPaint, Bau et al. 2019, Sec. 3.3): make G' reproduce a photo's
unedited pixels by multiplying the fine layers' outputs by (1 + delta_l).

The deltas have the full feature-map shape, start at zero and are fitted by Adam (lr 0.1, the
paper's 1000 steps) on the masked L1 of the unedited pixels (a sum, as the paper writes it) plus
0.1 * sum ||delta_l||^2. The early layers do not change, so the synthesis up to the first adapted
layer runs once and is cached; each step runs only the fine layers. The result is an
``AdaptedGenerator`` that every node accepts. Fitted once on the unedited photo it is the paper's
fast preview G'_w: later paint edits render at once (0 steps); adapting again from it with the
painted edit and its mask finishes the edit in fewer steps than from zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..generators.adapted import AdaptedGenerator, _delta_edits
from ..imaging import centre_square
from ..metrics import psnr_from_mse
from .autograd import normal_tensor, trainable
from .featuremap import Codes, codes_for, fine_layers, paused_before, resume, run_to
from .invert import prepare_images

@dataclass
class AdaptSettings:
    steps: int = 1000
    lr: float = 0.1
    reg: float = 0.1
    layers: tuple | None = None        # adapted layers; None = fine_layers(after)
    after: str | None = None           # the paint layer (default: the generator family's usual one)
    record: tuple = (100, 1000)        # steps at which the unedited-region PSNR is kept

    def __post_init__(self):
        if self.steps < 0:
            raise ValueError("steps must be >= 0")
        if self.lr <= 0 or self.reg < 0:
            raise ValueError("lr must be > 0 and reg >= 0")


@dataclass
class AdaptResult:
    generator: AdaptedGenerator
    target: torch.Tensor                     # the photo as the model sees it [1, C, H, W]
    psnr_start: float                        # unedited region, before the first step
    psnr_end: float
    psnr_at: dict = field(default_factory=dict)   # step -> unedited-region PSNR
    steps: int = 0

    def report(self) -> str:
        at = ", ".join(f"{k}: {v:.2f}" for k, v in sorted(self.psnr_at.items()))
        return (f"adapted {', '.join(self.generator.delta_names)} for {self.steps} steps: PSNR of the unedited "
                f"region {self.psnr_start:.2f} -> {self.psnr_end:.2f} dB" + (f" (at step {at})" if at else ""))


def default_paint_layer(generator) -> str:
    """GANPaint's 8x8 layer for ProGAN; for StyleGAN2 the second conv at a quarter of the image size."""
    arch = generator.architecture
    if arch == "progan":
        return "layer4"
    return f"b{max(4, generator.resolution // 4)}.conv1"


def masked_psnr(img: torch.Tensor, target: torch.Tensor, keep: torch.Tensor) -> float:
    """PSNR over the pixels where ``keep`` [1, 1, H, W] is 1."""
    err = ((img - target).square() * keep).sum() / (keep.sum() * img.shape[1]).clamp_min(1)
    return float(psnr_from_mse(err.detach()))


def _prepare(generator, image, latents, mask):
    if image.ndim != 4 or image.shape[0] != 1 or latents.batch_size != 1:
        raise ValueError("adapt one photo at a time: give one image and its one latent (from Invert Image)")
    target, _ = prepare_images(normal_tensor(image), generator.resolution)
    keep = torch.ones(1, 1, *target.shape[-2:])
    if mask is not None:
        m = mask.float()
        m = m.view(1, 1, *m.shape[-2:]) if m.ndim in (2, 3) and (m.ndim == 2 or m.shape[0] == 1) else None
        if m is None or tuple(m.shape[-2:]) != tuple(image.shape[-2:]):
            raise ValueError(f"the edit mask must be one mask of the photo's size {list(image.shape[-2:])}, "
                             f"got {list(mask.shape)}")
        keep = 1 - (centre_square(m, generator.resolution) > 0.5).float()
        if keep.sum() == 0:
            raise ValueError("the edit mask covers the whole photo: nothing is left to match")
    return target, keep


def adapt_to_image(generator, image: torch.Tensor, latents, mask: torch.Tensor | None = None,
                   settings: AdaptSettings | None = None, edits: dict | None = None, on_step=None) -> AdaptResult:
    """Fit G' to ``image`` [1, C, H, W] in [-1, 1] (its latents from Invert Image).

    ``mask`` [H, W] (1 = edited) leaves the edited pixels out of the loss; ``edits`` (e.g.
    ``paint.paint_edit``) are applied as in G'(z_e). Given an ``AdaptedGenerator``, its deltas are the
    starting point (warm start) and its base is adapted.
    """
    st = settings or AdaptSettings()
    base, init = generator, {}
    if isinstance(generator, AdaptedGenerator):
        base, init = generator.base, {k: v.detach() for k, v in generator.delta_map().items()}
    after = st.after or default_paint_layer(base)
    layers = list(st.layers or init or fine_layers(base, after))
    with trainable():
        target, keep = _prepare(base, image, latents, mask)
        target, keep = target.to(base.device), keep.to(base.device)
        codes = codes_for(base, latents)
        codes = Codes([normal_tensor(s) for s in codes.styles],
                      None if codes.noise is None else {k: normal_tensor(v) for k, v in codes.noise.items()})
        with torch.no_grad():
            state, _ = run_to(base, codes, paused_before(base, layers), edits=edits)
            img0, feats = base.synthesis_from_styles(codes.styles, resume=state, edits=edits, noise=codes.noise,
                                                     taps=layers)
        deltas = {n: torch.nn.Parameter(normal_tensor(init[n]) if n in init else torch.zeros_like(feats[n]))
                  for n in layers}
        for n, d in deltas.items():
            if d.shape != feats[n].shape:
                raise ValueError(f"the starting deltas of {n} have shape {list(d.shape)}, the layer gives "
                                 f"{list(feats[n].shape)}")
        with torch.no_grad():
            start = resume(base, codes, state, _delta_edits(deltas, edits)) if init else img0
        result = AdaptResult(generator=None, target=target.cpu(), psnr_start=masked_psnr(start, target, keep),
                             psnr_end=0.0, steps=st.steps)
        if st.steps:
            opt = torch.optim.Adam(list(deltas.values()), lr=st.lr)
            for step in range(1, st.steps + 1):
                img = resume(base, codes, state, _delta_edits(deltas, edits))
                loss = ((img - target).abs() * keep).sum() + st.reg * sum(d.square().sum() for d in deltas.values())
                opt.zero_grad()
                loss.backward()
                opt.step()
                if step - 1 in st.record and step > 1:
                    result.psnr_at[step - 1] = masked_psnr(img, target, keep)
                if on_step is not None:
                    on_step(step, st.steps, img.detach()[0].float().cpu() if step % 50 == 0 else None)
        with torch.no_grad():
            final = resume(base, codes, state, _delta_edits(deltas, edits))
        result.psnr_end = masked_psnr(final, target, keep)
        if st.steps in st.record:
            result.psnr_at[st.steps] = result.psnr_end
        result.generator = AdaptedGenerator(base, {n: d.detach().clone() for n, d in deltas.items()}).eval()
    return result
