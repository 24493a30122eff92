"""rosinality/stylegan2-pytorch checkpoints (``{g_ema, latent_avg}`` or training dicts).

Channel counts, depth and widths are read from the weight shapes, so reduced or custom
channel tables load as well as the standard one.
"""
from __future__ import annotations

import re

import torch

from ..errors import CheckpointError, UnsupportedCheckpointError
from ..generators.stylegan2 import StyleGAN2Config
from .common import build_stylegan2, filter_taps

W_AVG_SAMPLES = 4096
W_AVG_SEED = 1


def looks_like_rosinality(obj) -> bool:
    return isinstance(obj, dict) and isinstance(obj.get("g_ema"), dict) and "style.1.weight" in obj["g_ema"]


def generator_from_rosinality(obj: dict):
    sd = obj["g_ema"]
    if any(".iwt" in k or ".dwt" in k or k.startswith("dwt") for k in sd):
        raise UnsupportedCheckpointError("it is a SWAGAN (wavelet) generator, which is not supported")
    try:
        return _convert(sd, obj.get("latent_avg"))
    except KeyError as e:
        raise CheckpointError(f"its g_ema lacks {e.args[0]!r}, which a StyleGAN2 of its size has") from None


def _convert(sd: dict, latent_avg):
    n_mlp = len({m.group(1) for k in sd if (m := re.match(r"style\.(\d+)\.weight$", k))})
    n_rgb = len({m.group(1) for k in sd if (m := re.match(r"to_rgbs\.(\d+)\.conv\.weight$", k))})
    res = 2 ** (n_rgb + 2)
    style_dim = sd["style.1.weight"].shape[1]
    state, channels = {}, {}
    for i in range(n_mlp):
        state[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"]
        state[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"]
    state["synthesis.b4.const"] = sd["input.input"][0]

    def styled(src, dst):
        state[dst + "weight"] = sd[src + "conv.weight"][0]
        state[dst + "affine.weight"] = sd[src + "conv.modulation.weight"]
        state[dst + "affine.bias"] = sd[src + "conv.modulation.bias"]
        state[dst + "noise_strength"] = sd[src + "noise.weight"].reshape(())
        state[dst + "bias"] = sd[src + "activate.bias"]

    def to_rgb(src, dst):
        state[dst + "weight"] = sd[src + "conv.weight"][0]
        state[dst + "affine.weight"] = sd[src + "conv.modulation.weight"]
        state[dst + "affine.bias"] = sd[src + "conv.modulation.bias"]
        state[dst + "bias"] = sd[src + "bias"].reshape(-1)

    styled("conv1.", "synthesis.b4.conv1.")
    to_rgb("to_rgb1.", "synthesis.b4.torgb.")
    state["synthesis.b4.conv1.noise_const"] = sd["noises.noise_0"][0, 0]
    channels[4] = sd["conv1.conv.weight"].shape[1]
    for k in range(n_rgb):
        r = 2 ** (k + 3)
        styled(f"convs.{2 * k}.", f"synthesis.b{r}.conv0.")
        styled(f"convs.{2 * k + 1}.", f"synthesis.b{r}.conv1.")
        to_rgb(f"to_rgbs.{k}.", f"synthesis.b{r}.torgb.")
        state[f"synthesis.b{r}.conv0.noise_const"] = sd[f"noises.noise_{2 * k + 1}"][0, 0]
        state[f"synthesis.b{r}.conv1.noise_const"] = sd[f"noises.noise_{2 * k + 2}"][0, 0]
        channels[r] = sd[f"convs.{2 * k + 1}.conv.weight"].shape[1]
    blur = sd.get("convs.0.conv.blur.kernel")
    taps = filter_taps(blur / blur.sum()) if blur is not None else [1, 3, 3, 1]
    cfg = StyleGAN2Config(z_dim=style_dim, w_dim=style_dim, resolution=res, channels=channels,
                          mapping_layers=n_mlp, mapping_features=style_dim if n_mlp > 1 else None,
                          mapping_lr_mul=0.01, architecture="skip", resample_filter=taps)
    estimated = latent_avg is None
    state["mapping.w_avg"] = torch.zeros(style_dim) if estimated else latent_avg.reshape(-1).float()
    g = build_stylegan2(cfg, state, source="rosinality")
    if estimated:
        estimate_w_avg(g)
    g.w_avg_estimated = estimated
    return g


@torch.no_grad()
def estimate_w_avg(g, samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED):
    """Checkpoints without a stored mean W get one from seeded samples (as training tracks it)."""
    z = torch.randn(samples, g.z_dim, generator=torch.Generator().manual_seed(seed))
    ws = g.mapping(z.to(g.device))
    g.mapping_net.w_avg.copy_(ws[:, 0].mean(0))
    g.invalidate_fingerprint()
