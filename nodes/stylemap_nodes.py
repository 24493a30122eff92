"""Nodes of StyleMapGAN local editing: one-pass Encode Image and Stylemap Blend."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..core.ops.stylemap_edit import SPACES, encode_images, manual_placement, prepare_mask, stylemap_blend
from . import comfy_bridge as bridge
from .catalog_nodes import parse_strengths

CATEGORY = "GAN Local Edit/StyleMapGAN"
GEN = ("GLE_GENERATOR", {"tooltip": "A StyleMapGAN from Load GAN Generator (e.g. embedded: faces64_stylemap)."})


class EncodeImage:
    DESCRIPTION = ("Project photos into a StyleMapGAN's stylemap with ONE encoder pass (no optimisation). "
                   "The image is centre-cropped to a square and resized to the model.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_LATENT", "IMAGE")
    RETURN_NAMES = ("latents", "reconstruction")
    OUTPUT_TOOLTIPS = ("Stylemap latents (for Stylemap Blend or Generate Image).",
                       "What the stylemaps generate (one decoder pass).")
    FUNCTION = "encode"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "image": ("IMAGE", {"tooltip": "RGB image(s), any size (centre-cropped to a square)."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def encode(self, generator, image, unique_id=None):
        lat, recon = encode_images(generator, bridge.image_from_comfy(image),
                                   on_step=bridge.Progress(image.shape[0], unique_id))
        return (lat, bridge.image_to_comfy(recon))


class StylemapBlend:
    DESCRIPTION = ("StyleMapGAN local editing: take the reference's region under the mask into the source, in "
                   "one decoder pass. w = mix the stylemap (mask max-pooled to its grid, as the paper); w+ = mix "
                   "every stylecode with the mask at its resolution (finer borders). Move the region with "
                   "offset/scale, or connect a roi from Deformable Match to place it automatically.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "GLE_LATENT", "MASK")
    RETURN_NAMES = ("images", "latents", "grid_mask")
    OUTPUT_TOOLTIPS = ("Edited images, pair-major then strength.",
                       "The blended stylemaps (w space; for w+ the w-space blend with the same mask, since a w+ "
                       "edit has no single stylemap).",
                       "The mask as applied on the stylemap grid (target frame), shown at image size.")
    FUNCTION = "blend"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "source": ("GLE_LATENT", {"tooltip": "Stylemaps of the images to edit (Encode Image, Sample Latents)."}),
            "reference": ("GLE_LATENT", {"tooltip": "Stylemaps of the images to take the region from."}),
            "reference_mask": ("MASK", {"tooltip": "The region to take, on the reference (1 = selected); any size "
                                                   "(centre-cropped and resized like the photo)."}),
            "space": (list(SPACES), {"default": "w", "tooltip": "w: mix the stylemap (paper); w+: mix every "
                                                                "stylecode at its own resolution."}),
            "strength": ("STRING", {"default": "1.0", "tooltip": "0 = source, 1 = full edit; a list like "
                                                                 "'0, 0.5, 1' gives one image each (one batch)."}),
            "feather": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 32.0, "step": 0.5,
                                  "tooltip": "0 = the paper's hard mask; > 0 = soften the mask by that many pixels "
                                             "and mix smoothly."}),
            "offset_x": ("FLOAT", {"default": 0.0, "min": -1.0, "max": 1.0, "step": 0.01,
                                   "tooltip": "Move the region right by this fraction of the image width "
                                              "(unaligned transplantation; ignored when a roi is connected)."}),
            "offset_y": ("FLOAT", {"default": 0.0, "min": -1.0, "max": 1.0, "step": 0.01,
                                   "tooltip": "Move the region down by this fraction of the image height."}),
            "scale": ("FLOAT", {"default": 1.0, "min": 0.25, "max": 4.0, "step": 0.05,
                                "tooltip": "Scale the moved region about its centre."}),
        }, "optional": {
            "roi": ("GLE_ROI", {"tooltip": "From Deformable Match (reference part found on the source): "
                                           "places the region there, with its scale and angle."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def blend(self, generator, source, reference, reference_mask, space, strength, feather, offset_x, offset_y,
              scale, roi=None, unique_id=None):
        strengths = parse_strengths(strength)
        placement = roi
        if placement is None and (offset_x or offset_y or scale != 1):
            placement = manual_placement(prepare_mask(reference_mask[:1], generator.resolution),
                                         (offset_x, offset_y), scale)
        out = stylemap_blend(generator, source, reference, reference_mask, space=space, strengths=strengths,
                             feather=feather, placement=placement, on_step=bridge.Progress(1, unique_id))
        grid = F.interpolate(out.grid_mask, size=(generator.resolution,) * 2, mode="nearest")[:, 0]
        return (bridge.image_to_comfy(out.images), out.latents, grid.clamp(0, 1).to(torch.float32))


NODES = {
    "GLEEncodeImage": (EncodeImage, "Encode Image (StyleMapGAN)"),
    "GLEStylemapBlend": (StylemapBlend, "Stylemap Blend"),
}
