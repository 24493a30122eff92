"""Pure-PyTorch core of GAN Local Edit (never imports ComfyUI).

    from <pack>.core import load_generator, sample_latents, render
    g = load_generator("ffhq.pkl")            # NVIDIA / TF / rosinality / safetensors
    lat = sample_latents(g, seed=1, count=4, truncation_psi=0.7)
    images = render(g, lat)                    # [B, 3, H, W] in about [-1, 1]
"""
from .errors import (CheckpointError, GLEError, IncompatibleInputError, UnsafeCheckpointError,
                     UnsupportedCheckpointError)
from .formats import convert_checkpoint, load_generator, read_metadata, save_generator, sniff_format
from .formats.cache import load_generator_cached
from .generators.base import Generator, LayerInfo
from .generators.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from .generators.stylemapgan import StyleMapGANConfig, StyleMapGANGenerator
from .latents import Latents
from .ops.generate import render, sample_latents

__all__ = [
    "CheckpointError", "GLEError", "IncompatibleInputError", "UnsafeCheckpointError", "UnsupportedCheckpointError",
    "convert_checkpoint", "load_generator", "load_generator_cached", "read_metadata", "save_generator",
    "sniff_format", "Generator", "LayerInfo", "StyleGAN2Config", "StyleGAN2Generator", "StyleMapGANConfig",
    "StyleMapGANGenerator", "Latents", "render", "sample_latents",
]
