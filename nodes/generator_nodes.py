"""Nodes for loading generators, sampling latents, rendering images and converting files."""
from __future__ import annotations

import os

import torch

from ..core import Latents, convert_checkpoint, load_generator_cached, render, sample_latents
from ..core.embedded import embedded_choice_names, resolve_embedded
from ..core.errors import UnsupportedCheckpointError
from ..core.formats.loader import resolve_device
from . import comfy_bridge as bridge

CATEGORY = "GAN Local Edit"
NOISE_MODES = ["const", "random", "none"]


def model_choices() -> list[str]:
    return embedded_choice_names() + bridge.list_model_files()


def resolve_model_choice(choice: str) -> str:
    return resolve_embedded(choice) or bridge.model_file_path(choice)


class LoadGANGenerator:
    DESCRIPTION = ("Load a GAN generator: StyleGAN2 NVIDIA .pkl (read without running pickled code), "
                   "legacy TF StyleGAN2 .pkl, rosinality .pt, StyleMapGAN .pt (generator + encoder), or this "
                   "pack's .safetensors. Files go in models/gan_models; 'embedded: faces64' (StyleGAN2) and "
                   "'embedded: faces64_stylemap' (StyleMapGAN) ship with the pack.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_GENERATOR", "STRING")
    RETURN_NAMES = ("generator", "info")
    OUTPUT_TOOLTIPS = ("The loaded generator (read-only; edits never change it).",
                       "Architecture, resolution, latent sizes and parameter count.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "model": (model_choices(), {"tooltip": "Checkpoint from models/gan_models, or a model shipped with the pack."}),
            "device": (bridge.DEVICES, {"default": "auto",
                                        "tooltip": "auto = CUDA when available, else CPU."}),
        }}

    @classmethod
    def IS_CHANGED(cls, model, device):
        try:
            return bridge.file_state(resolve_model_choice(model))
        except FileNotFoundError:
            return "missing"

    def load(self, model, device):
        path = resolve_model_choice(model)
        g = load_generator_cached(path, device=resolve_device(device))
        if getattr(g, "c_dim", 0):
            raise UnsupportedCheckpointError(
                f"{os.path.basename(path)}: class-conditional models (c_dim {g.c_dim}) are not supported by the "
                f"nodes: sampling, catalogs and inversion have no class input (use an unconditional model)")
        return (g, g.describe())


class SampleLatents:
    DESCRIPTION = ("Draw seeded random latents z and map them to W (with truncation towards the "
                   "average face). The same seed gives the same images on every device.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_LATENT",)
    RETURN_NAMES = ("latents",)
    OUTPUT_TOOLTIPS = ("W codes (one per image), usable by every editing node.",)
    FUNCTION = "sample"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                             "tooltip": "Random seed of the latents."}),
            "count": ("INT", {"default": 4, "min": 1, "max": 256, "tooltip": "Number of latents (batch size)."}),
            "truncation_psi": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 2.0, "step": 0.05,
                                         "tooltip": "1 = full variety; lower = closer to the average face "
                                                    "(better quality)."}),
        }}

    def sample(self, generator, seed, count, truncation_psi):
        if not 1 <= count <= 256:
            raise ValueError("count must be between 1 and 256")
        return (sample_latents(generator, seed, count, truncation_psi),)


class GenerateImage:
    DESCRIPTION = "Render latents (W, W+ or StyleSpace) with a generator into images."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("images",)
    OUTPUT_TOOLTIPS = ("One image per latent, at the generator's resolution.",)
    FUNCTION = "generate"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."}),
            "latents": ("GLE_LATENT", {"tooltip": "From Sample Latents or any editing node."}),
            "noise_mode": (NOISE_MODES, {"default": "const",
                                         "tooltip": "const = the checkpoint's fixed noise (reproducible); "
                                                    "random = fresh per-pixel noise from noise_seed; none = no noise."}),
            "noise_seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                                   "tooltip": "Seed of the per-pixel noise when noise_mode is random."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def generate(self, generator, latents: Latents, noise_mode, noise_seed, unique_id=None):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}")
        progress = bridge.Progress(latents.batch_size, unique_id)
        img = render(generator, latents, noise_mode=noise_mode, noise_seed=noise_seed, on_step=progress)
        return (bridge.image_to_comfy(img),)


class ConvertCheckpoint:
    DESCRIPTION = ("Convert a checkpoint (NVIDIA/TF pickle, rosinality .pt, StyleMapGAN .pt with its encoder) "
                   "to this pack's safetensors "
                   "format, which loads without any pickle. The file is written next to the others in "
                   "models/gan_models.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Path of the written .safetensors file.",)
    FUNCTION = "convert"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "checkpoint": (bridge.list_model_files() or ["(no files in models/gan_models)"],
                           {"tooltip": "File to convert, from models/gan_models."}),
            "output_name": ("STRING", {"default": "", "tooltip": "File name of the result; empty = same "
                                                                 "name with .safetensors."}),
            "dtype": (["float32", "float16"], {"default": "float32",
                                                "tooltip": "float16 halves the file size (outputs change "
                                                           "by about 1e-3)."}),
            "overwrite": ("BOOLEAN", {"default": False, "tooltip": "Replace an existing file of that name."}),
        }}

    def convert(self, checkpoint, output_name, dtype, overwrite):
        src = bridge.model_file_path(checkpoint)
        name = output_name.strip() or os.path.splitext(os.path.basename(checkpoint))[0]
        if os.sep in name or "/" in name or name.startswith("."):
            raise ValueError("output_name must be a plain file name")
        if not name.endswith(".safetensors"):
            name += ".safetensors"
        dst = os.path.join(os.path.dirname(src), name)
        if os.path.exists(dst) and not overwrite:
            raise FileExistsError(f"{dst} exists; set overwrite to replace it")
        with torch.no_grad():
            convert_checkpoint(src, dst, dtype=dtype)
        return {"ui": {"text": [dst]}, "result": (dst,)}


NODES = {
    "GLELoadGenerator": (LoadGANGenerator, "Load GAN Generator"),
    "GLESampleLatents": (SampleLatents, "Sample Latents"),
    "GLEGenerateImage": (GenerateImage, "Generate Image"),
    "GLEConvertCheckpoint": (ConvertCheckpoint, "Convert Checkpoint"),
}
