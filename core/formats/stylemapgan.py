"""Official StyleMapGAN checkpoints (``{g_ema, e_ema, train_args, ...}``, naver-ai/StyleMapGAN).

Every size is read from the weight shapes (``train_args`` only supplies what shapes cannot
tell: the mapping's lr multiplier and the normalisation), so reduced channel tables load as
well as the released ones. The FIR blur kernels are checked against the taps and dropped.
"""
from __future__ import annotations

import re

import torch

from ..errors import CheckpointError, UnsupportedCheckpointError
from ..generators.fir import make_filter
from ..generators.stylemapgan import StyleMapGANConfig, StyleMapGANGenerator
from .common import build_generator, filter_taps

ENCODER_PREFIX = "encoder."


def looks_like_stylemapgan(obj) -> bool:
    if not isinstance(obj, dict):
        return False
    inner = obj.get("g_ema") if isinstance(obj.get("g_ema"), dict) else obj
    return "e_ema" in obj or any(str(k).startswith(("mapping_z.", "decoder.convs_latent.")) for k in inner)


def generator_from_stylemapgan(obj: dict) -> StyleMapGANGenerator:
    if not isinstance(obj.get("g_ema"), dict):
        raise CheckpointError("it looks like a StyleMapGAN checkpoint but has no 'g_ema' generator weights")
    enc = obj.get("e_ema")
    if enc is not None and not isinstance(enc, dict):
        raise CheckpointError("its 'e_ema' is not an encoder state dict")
    args = obj.get("train_args")
    try:
        cfg, state = _convert(obj["g_ema"], enc or None, args)
    except KeyError as e:
        raise CheckpointError(f"its weights lack {e.args[0]!r}, which a StyleMapGAN of its size has") from None
    except ValueError as e:
        raise CheckpointError(f"its weights do not describe a valid StyleMapGAN ({e})") from None
    g = build_generator(StyleMapGANGenerator, cfg, state, source="stylemapgan", what="StyleMapGAN")
    g.estimate_stylemap_avg()
    return g


def _arg(args, name, default):
    return getattr(args, name, default) if args is not None else default


def _convert(sd: dict, enc: dict | None, args):
    """(config, state dict in the pack's layout) from the official g_ema / e_ema dicts."""
    n_map = len({m.group(1) for k in sd if (m := re.match(r"mapping_z\.(\d+)\.weight$", k))})
    if n_map == 0:
        raise KeyError("mapping_z.1.weight")
    first, last = sd["mapping_z.1.weight"], sd[f"mapping_z.{n_map}.weight"]
    const = sd["decoder.input.input"]
    ls, style_dim = int(const.shape[-1]), int(sd["decoder.convs_latent.0.0.weight"].shape[1])
    if last.shape[0] != style_dim * ls * ls:
        raise ValueError(f"the mapping outputs {last.shape[0]} values, not {style_dim}x{ls}x{ls}")
    n_blocks = len({m.group(1) for k in sd if (m := re.match(r"decoder\.convs\.(\d+)\.conv2\.conv\.weight$", k))})
    res = [ls * 2 ** i for i in range(n_blocks + 1)]
    channels = {ls: int(const.shape[1])}
    codes = {ls: int(sd["decoder.convs_latent.0.0.weight"].shape[0])}
    for i, r in enumerate(res[1:]):
        channels[r] = int(sd[f"decoder.convs.{i}.conv2.conv.weight"].shape[1])
        codes[r] = int(sd[f"decoder.convs_latent.{2 * i + 2}.0.weight"].shape[0])
    kernel = sd.get("decoder.convs_latent.2.1.kernel")
    taps = filter_taps(kernel / kernel.sum()) if kernel is not None else [1, 3, 3, 1]
    _check_kernels(sd, taps)
    enc_channels = None
    if enc is not None:
        _check_kernels(enc, taps)
        enc_channels = {res[-1]: int(enc["from_rgb.0.weight"].shape[0])}
        n_enc = len({m.group(1) for k in enc if (m := re.match(r"convs\.(\d+)\.conv2\.1\.weight$", k))})
        if n_enc != n_blocks:
            raise ValueError(f"the encoder has {n_enc} down blocks but the decoder {n_blocks} up blocks")
        for i in range(n_enc):
            enc_channels[res[-1] >> (i + 1)] = int(enc[f"convs.{i}.conv2.1.weight"].shape[0])
    mode = _arg(args, "normalize_mode", "LayerNorm")
    if mode not in ("LayerNorm", "InstanceNorm2d", None):
        raise UnsupportedCheckpointError(f"its normalize_mode {mode!r} is not supported (LayerNorm, InstanceNorm2d)")
    cfg = StyleMapGANConfig(
        z_dim=int(first.shape[1]), style_dim=style_dim, latent_size=ls, resolution=res[-1], channels=channels,
        stylecode_channels=codes, mapping_layers=n_map,
        mapping_hidden=int(first.shape[0]) if n_map > 1 else None,
        mapping_lr_mul=float(_arg(args, "lr_mul", 0.01)), normalize_mode=mode, encoder_channels=enc_channels,
        blur_kernel=taps)
    state = {k: v for k, v in sd.items() if not k.endswith("kernel")}
    for k, v in (enc or {}).items():
        if not k.endswith("kernel"):
            state[ENCODER_PREFIX + k] = v
    return cfg, state


def _check_kernels(sd: dict, taps) -> None:
    """Every stored blur kernel must be the one rebuilt from ``taps`` (x4 after up-sampling)."""
    ref = make_filter(taps)
    for k, v in sd.items():
        if k.endswith("kernel"):
            v = v.float()
            if v.shape != ref.shape or not (torch.allclose(v, ref, atol=1e-6) or torch.allclose(v, ref * 4, atol=1e-6)):
                raise UnsupportedCheckpointError(f"its blur kernel {k} differs from the others (unsupported)")
