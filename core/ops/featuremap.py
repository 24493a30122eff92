"""The feature-map view of a generator that GANPaint's operations use: run to a named layer, edit
its output, resume to the image.

Every generator of the pack (StyleGAN2, Progressive GAN, and an image-adapted copy of either)
implements ``synthesis_partial`` / ``synthesis_from_styles(resume=...)`` with ``edits``; this module
turns latents into the codes those take and names the layers that carry feature maps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

FEATURE_KINDS = ("conv", "const", "block")


@dataclass
class Codes:
    """What a synthesis consumes for a batch: its per-layer codes and fitted noise maps (or None)."""
    styles: list
    noise: dict | None

    @property
    def batch_size(self) -> int:
        return int(self.styles[0].shape[0])

    def select(self, index) -> "Codes":
        noise = None if self.noise is None else {k: v[index] for k, v in self.noise.items()}
        return Codes([s[index] for s in self.styles], noise)


def codes_for(generator, latents) -> Codes:
    return Codes(latents.styles_for(generator), latents.noise_for(generator))


def feature_layers(generator) -> list[str]:
    """Names of the layers whose output is a feature map (editable, dissectable)."""
    return [l.name for l in generator.layers() if l.kind in FEATURE_KINDS and l.name in generator.step_names()]


def check_feature_layer(generator, layer: str) -> str:
    names = feature_layers(generator)
    if layer not in names:
        raise ValueError(f"{layer!r} is not a feature layer of {generator.name}; choose one of: {', '.join(names)}")
    return layer


def run_to(generator, codes: Codes, layer: str, edits=None, image: bool = True):
    """(state, features at ``layer``): the synthesis paused after ``layer`` (with ``edits`` applied).

    ``image=False`` skips the RGB path (features only: the state cannot be resumed to an image).
    """
    state, feats = generator.synthesis_partial(codes.styles, until=layer, taps=[layer], edits=edits,
                                               noise=codes.noise, track_image=image)
    return state, feats[layer]


def resume(generator, codes: Codes, state, edits=None) -> torch.Tensor:
    """The image from a paused ``state`` (its features may have been replaced), with later ``edits``."""
    return generator.synthesis_from_styles(codes.styles, resume=state, edits=edits, noise=codes.noise)


def with_features(state, x: torch.Tensor):
    """A copy of a paused state whose layer output is replaced by ``x``."""
    from dataclasses import replace
    return replace(state, x=x)


def layers_after(generator, layer: str) -> list[str]:
    steps = generator.step_names()
    return steps[steps.index(layer) + 1:]


def fine_layers(generator, after: str) -> list[str]:
    """Default layers of image-specific adaptation: the fine conv layers after the paint layer.

    Progressive GAN: the second conv of every block at >= 4x the paint layer's resolution (GANPaint's
    reference: layers 8, 10, 12, 14 after layer 4 of the 256 px model). Other generators: every conv
    at a resolution above the paint layer's. The last conv layer stands in when none qualifies.
    """
    info = {l.name: l for l in generator.layers()}
    res = info[after].resolution
    later = [n for n in layers_after(generator, after) if n in info and info[n].kind == "conv"]
    if generator.architecture == "progan":
        picked = [n for n in later if info[n].resolution >= 4 * res and int(n[5:]) % 2 == 0]
    else:
        picked = [n for n in later if info[n].resolution > res]
    return picked or later[-1:]


def paused_before(generator, layers: list[str]) -> str:
    """The last step before the first of ``layers``: where a synthesis can be cached."""
    steps = generator.step_names()
    first = min(steps.index(n) for n in layers)
    if first == 0:
        raise ValueError(f"{layers[0]!r} is the first layer: nothing comes before it to cache")
    return steps[first - 1]
