"""Nodes of Adaptive Paste-GAN: deformable ROI matching and the latent paste optimiser."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.imaging import outline
from ..core.ops.deformable_match import MatchSettings, default_match_layers, detect_roi
from ..core.ops.generate import render
from ..core.ops.latent_paste import PasteSettings, default_feature_layer, paste
from . import comfy_bridge as bridge

CATEGORY = "GAN Local Edit/Adaptive Paste"
GEN = ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."})


def single_mask(mask: torch.Tensor, size: int) -> torch.Tensor:
    """A ComfyUI MASK ([B,H,W] or [H,W]) -> one [size, size] mask. A square mask of another size is
    resized (e.g. painted on an upscaled copy); a non-square one fits no generated image and an empty
    one selects nothing: both are refused."""
    m = mask.float()
    if m.ndim == 3:
        if m.shape[0] != 1:
            raise ValueError(f"give one reference mask, got a batch of {m.shape[0]}")
        m = m[0]
    if m.ndim != 2:
        raise ValueError(f"a MASK must be [H, W] or [1, H, W], got {list(mask.shape)}")
    if m.shape[0] != m.shape[1]:
        raise ValueError(f"the reference mask is {m.shape[1]}x{m.shape[0]} (width x height) but the model's images "
                         f"are square ({size}x{size}): crop or resize the mask to a square")
    m = F.interpolate(m[None, None], size=(size, size), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
    if (m > 0.5).sum() < 1:
        raise ValueError("the reference mask is empty: paint the part to copy (white / painted = selected)")
    return m


def _layers(text: str, default):
    names = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    return names or default


class DeformableMatch:
    DESCRIPTION = ("Find where the reference's masked part belongs in the target (Adaptive Paste-GAN): a "
                   "scaled, rotated and moved copy of the mask that best matches the reference's features.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MASK", "GLE_ROI", "IMAGE")
    RETURN_NAMES = ("target_mask", "roi", "preview")
    OUTPUT_TOOLTIPS = ("The ROI on the target, at the generator's resolution.",
                       "Scale, angle and position of the match (for Latent Paste).",
                       "Reference with its mask (green) beside the target with the found ROI (red).")
    FUNCTION = "match"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "target": ("GLE_LATENT", {"tooltip": "One target latent."}),
            "reference": ("GLE_LATENT", {"tooltip": "One reference latent."}),
            "reference_mask": ("MASK", {"tooltip": "The part to copy, on the reference image (1 = selected): "
                                                   "paint it in the mask editor, or use Catalog Mask."}),
            "feature_layers": ("STRING", {"default": "", "tooltip": "Comma-separated tap names; empty = the "
                                                                    "3rd, 4th and 5th synthesis blocks (the "
                                                                    "paper: 3rd and 5th)."}),
            "steps": ("INT", {"default": 20, "min": 0, "max": 1000,
                              "tooltip": "Adam steps on scale and angle, per stage (paper: 80; 20 suffice "
                                         "after the whole-image match and with parallel starts)."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def match(self, generator, target, reference, reference_mask, feature_layers, steps, unique_id=None):
        res = generator.resolution
        mask = single_mask(reference_mask, res)
        layers = _layers(feature_layers, default_match_layers(generator))
        progress = bridge.Progress(max(steps, 1), unique_id)
        roi, target_mask = detect_roi(generator, target, reference, mask, layers=layers,
                                      settings=MatchSettings(steps=steps), on_step=progress)
        images = render(generator, target.select(0)), render(generator, reference.select(0))
        tgt = outline(images[0], target_mask, (1.0, -1.0, -1.0))
        ref = outline(images[1], mask, (-1.0, 1.0, -1.0))
        preview = torch.cat([ref, tgt], dim=3)
        scale = max(1, 256 // res)
        preview = F.interpolate(preview, scale_factor=scale, mode="nearest") if scale > 1 else preview
        return (target_mask[None].cpu(), roi, bridge.image_to_comfy(preview))


class LatentPaste:
    DESCRIPTION = ("Paste the reference part into the target's ROI by optimising the target's first W+ rows "
                   "(Adaptive Paste-GAN). Early steps: semantic transfer; later: more local. The trajectory "
                   "shows every 'preview_every' steps so you can pick the trade-off.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "GLE_LATENT", "IMAGE")
    RETURN_NAMES = ("image", "latents", "trajectory")
    OUTPUT_TOOLTIPS = ("The final edited image.", "The edited W+ codes (paste again to chain edits).",
                       "Images every preview_every steps.")
    FUNCTION = "paste"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "target": ("GLE_LATENT", {"tooltip": "One target latent (W or W+)."}),
            "reference": ("GLE_LATENT", {"tooltip": "One reference latent."}),
            "reference_mask": ("MASK", {"tooltip": "The same mask given to Deformable Match."}),
            "roi": ("GLE_ROI", {"tooltip": "From Deformable Match."}),
            "steps": ("INT", {"default": 100, "min": 1, "max": 5000, "tooltip": "Optimisation steps."}),
            "lr": ("FLOAT", {"default": 0.05, "min": 0.0001, "max": 1.0, "step": 0.005,
                             "tooltip": "Adam learning rate (paper: 0.05)."}),
            "gamma": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 1.0, "step": 0.05,
                                "tooltip": "Weight of keeping the outside unchanged (< 1)."}),
            "layers": ("INT", {"default": 6, "min": 1, "max": 32, "tooltip": "How many first W+ rows change."}),
            "preview_every": ("INT", {"default": 10, "min": 1, "max": 1000,
                                      "tooltip": "Trajectory/preview interval in steps."}),
            "feature_layer": ("STRING", {"default": "", "tooltip": "Tap whose features are matched; empty = "
                                                                   "the block nearest 32x32."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def paste(self, generator, target, reference, reference_mask, roi, steps, lr, gamma, layers, preview_every,
              feature_layer, unique_id=None):
        if layers > generator.num_ws:
            raise ValueError(f"layers must be at most num_ws = {generator.num_ws}")
        if roi.grid_size <= 0:
            raise ValueError("invalid ROI")
        mask = single_mask(reference_mask, generator.resolution)
        settings = PasteSettings(steps=steps, lr=lr, gamma=gamma, layers=layers, preview_every=preview_every,
                                 feature_layer=feature_layer.strip() or default_feature_layer(generator))
        progress = bridge.Progress(steps, unique_id)
        res = paste(generator, target, reference, mask, roi, settings, on_step=progress)
        traj = torch.cat([img for _, img in res.trajectory])
        return (bridge.image_to_comfy(res.image), res.latents, bridge.image_to_comfy(traj))


NODES = {
    "GLEDeformableMatch": (DeformableMatch, "Deformable Match"),
    "GLELatentPaste": (LatentPaste, "Latent Paste"),
}
