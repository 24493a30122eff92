"""Nodes of GANPaint: dissect a layer's units, paint them on or off, adapt a generator to a photo."""
from __future__ import annotations

import os

from ..core.io import load_units, save_units
from ..core.ops.adapt import AdaptSettings, adapt_to_image, default_paint_layer
from ..core.ops.dissect import STRENGTHS, dissect, dissect_with_catalog
from ..core.ops.paint import MODES, Stroke, mask_to_model, paint
from . import comfy_bridge as bridge

CATEGORY = "GAN Local Edit/GANPaint"
GEN = ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator (or Adapt To Image)."})
UNITS = ("GLE_UNITS", {"tooltip": "From Dissect Units or Load Units."})
MASK_NOTE = "A photo-sized mask is centre-cropped and resized like the photo in Invert Image."


def _names(text: str) -> list[str]:
    return [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]


class DissectUnits:
    DESCRIPTION = ("GAN Dissection: rank one layer's units (channels) for each concept by the IoU between the "
                   "unit's thresholded activation (above its 0.99 quantile over the samples) and the concept's "
                   "masks. Concept masks come from a catalog's labels, or from a MASK per sample of 'latents'.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_UNITS", "STRING")
    RETURN_NAMES = ("units", "info")
    OUTPUT_TOOLTIPS = ("Concept -> ranked units, their IoU and draw values.", "The top units per concept.")
    FUNCTION = "dissect"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "layer": ("STRING", {"default": "", "tooltip": "Layer to dissect (empty: b16.conv1 on a 64 px "
                                                          "StyleGAN2, layer4 on a ProGAN)."}),
            "n_samples": ("INT", {"default": 200, "min": 2, "max": 5000,
                                  "tooltip": "Samples for the quantiles and IoUs (catalog masks only)."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                             "tooltip": "Seed of the samples (catalog masks only)."}),
            "truncation_psi": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.05,
                                         "tooltip": "Truncation of the samples (catalog masks only)."}),
        }, "optional": {
            "catalog": ("GLE_CATALOG", {"tooltip": "Concept masks from this catalog's labels."}),
            "labels": ("STRING", {"default": "", "tooltip": "Catalog labels to use, e.g. 'eyes, mouth' "
                                                           "(empty: all). With a MASK: the concept's name."}),
            "latents": ("GLE_LATENT", {"tooltip": "Or: your own samples, with one MASK each."}),
            "mask": ("MASK", {"tooltip": "The concept's region in each of 'latents'' images. " + MASK_NOTE}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def dissect(self, generator, layer, n_samples, seed, truncation_psi, catalog=None, labels="", latents=None,
                mask=None, unique_id=None):
        layer = layer.strip() or default_paint_layer(generator)
        if (catalog is None) == (mask is None):
            raise ValueError("give either a catalog (concepts from its labels) or latents + a MASK")
        if mask is not None:
            names = _names(labels)
            if latents is None or len(names) != 1:
                raise ValueError("with a MASK, give the latents it belongs to and one concept name in 'labels'")
            masks = mask_to_model(mask, generator.resolution)
            table = dissect(generator, layer, {names[0]: masks}, latents,
                            on_step=bridge.Progress(latents.batch_size, unique_id))
        else:
            table = dissect_with_catalog(generator, catalog, _names(labels), layer, n_samples, seed, truncation_psi,
                                         on_step=bridge.Progress(n_samples, unique_id))
        return (table, table.describe())


class PaintUnits:
    DESCRIPTION = ("GANPaint: switch a concept's units on (draw: their 0.99-quantile value), off (remove), or to "
                   "a reference's values (copy) inside the painted region, at the unit table's layer. Strength: "
                   "low / medium / high = 4 / 10 / 15 units. A second stroke is optional.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("The painted images.",)
    FUNCTION = "paint"

    @classmethod
    def INPUT_TYPES(cls):
        stroke = {
            "concept": ("STRING", {"default": "mouth", "tooltip": "A concept of the unit table."}),
            "mode": (list(MODES), {"default": "draw", "tooltip": "draw (units on), remove (off), copy (from "
                                                                 "the reference latents)."}),
            "strength": (list(STRENGTHS), {"default": "medium", "tooltip": "4 / 10 / 15 units."}),
        }
        return {"required": {
            "generator": GEN, "units": UNITS,
            "latents": ("GLE_LATENT", {"tooltip": "The images to paint (e.g. from Sample Latents or Invert Image)."}),
            "mask": ("MASK", {"tooltip": "Where to paint (white). " + MASK_NOTE}),
            **stroke,
        }, "optional": {
            "reference": ("GLE_LATENT", {"tooltip": "For mode 'copy': the image whose units are copied."}),
            "mask_2": ("MASK", {"tooltip": "Optional second stroke's region."}),
            **{f"{k}_2": v for k, v in stroke.items()},
        }}

    def paint(self, generator, units, latents, mask, concept, mode, strength, reference=None, mask_2=None,
              concept_2="mouth", mode_2="draw", strength_2="medium"):
        res = generator.resolution
        strokes = [Stroke(concept.strip(), mask_to_model(mask, res), mode, strength)]
        if mask_2 is not None:
            strokes.append(Stroke(concept_2.strip(), mask_to_model(mask_2, res), mode_2, strength_2))
        return (bridge.image_to_comfy(paint(generator, units, latents, strokes, reference=reference)),)


class AdaptToImage:
    DESCRIPTION = ("GANPaint's image-specific generator: fit multiplicative deltas (1 + delta) on the fine "
                   "layers so that the generator reproduces this photo (masked L1 + 0.1 * sum delta^2, Adam). "
                   "Fitted on the unedited photo it is the fast preview: Paint Units on it edits the photo at "
                   "once. Given an adapted generator, it continues from its deltas.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_GENERATOR", "IMAGE", "STRING")
    RETURN_NAMES = ("generator", "reconstruction", "report")
    OUTPUT_TOOLTIPS = ("The adapted generator (for this photo's latents only).", "What it renders.",
                       "PSNR of the matched pixels before and after.")
    FUNCTION = "adapt"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "image": ("IMAGE", {"tooltip": "The photo (one image), as given to Invert Image."}),
            "latents": ("GLE_LATENT", {"tooltip": "Its latents from Invert Image."}),
            "steps": ("INT", {"default": 1000, "min": 0, "max": 10000, "tooltip": "Adam steps (paper: 1000; "
                                                                                "100 gives a rough fit)."}),
            "lr": ("FLOAT", {"default": 0.1, "min": 1e-4, "max": 1.0, "step": 0.01, "tooltip": "Adam learning rate."}),
            "reg": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 10.0, "step": 0.01,
                              "tooltip": "Weight of sum ||delta||^2 (keeps G' close to G)."}),
        }, "optional": {
            "mask": ("MASK", {"tooltip": "Edited region (white), left out of the fit; the photo's size."}),
            "units": ("GLE_UNITS", {"tooltip": "Paint at this table's layer: the deltas go on the fine layers "
                                               "after it (default: the usual paint layer)."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def adapt(self, generator, image, latents, steps, lr, reg, mask=None, units=None, unique_id=None):
        photo = bridge.image_from_comfy(image)
        m = None
        if mask is not None:
            m = mask[0] if mask.ndim == 3 and mask.shape[0] == 1 else mask
        settings = AdaptSettings(steps=steps, lr=lr, reg=reg, after=None if units is None else units.layer)
        res = adapt_to_image(generator, photo, latents, m, settings, on_step=bridge.Progress(steps, unique_id))
        from ..core.ops.generate import render
        return (res.generator, bridge.image_to_comfy(render(res.generator, latents)), res.report())


class SaveUnits:
    DESCRIPTION = "Save a unit table (safetensors, with its generator's identity) to models/gan_units."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the table was written.",)
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "units": UNITS,
            "filename": ("STRING", {"default": "units", "tooltip": "File name (.safetensors is added)."}),
            "overwrite": ("BOOLEAN", {"default": False, "tooltip": "Replace an existing file of that name."}),
        }}

    def save(self, units, filename, overwrite):
        name = filename.strip()
        name = name if name.endswith(".safetensors") else name + ".safetensors"
        path = bridge.output_path(name, bridge.UNITS_FOLDER)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; set overwrite to replace it")
        save_units(units, path)
        return {"ui": {"text": [path]}, "result": (path,)}


class LoadUnits:
    DESCRIPTION = "Load a saved unit table (models/gan_units) and check that it belongs to the generator."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_UNITS", "STRING")
    RETURN_NAMES = ("units", "info")
    OUTPUT_TOOLTIPS = ("The unit table.", "Its top units per concept.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "units": (bridge.list_model_files(bridge.UNITS_FOLDER) or ["(no unit tables saved yet)"],
                      {"tooltip": "A table from models/gan_units."}),
            "generator": GEN,
        }}

    @classmethod
    def IS_CHANGED(cls, units, **_):
        try:
            return bridge.file_state(bridge.model_file_path(units, bridge.UNITS_FOLDER))
        except FileNotFoundError:
            return "missing"

    def load(self, units, generator):
        table = load_units(bridge.model_file_path(units, bridge.UNITS_FOLDER), generator)
        return (table, table.describe())


NODES = {
    "GLEDissectUnits": (DissectUnits, "Dissect Units"),
    "GLEPaintUnits": (PaintUnits, "Paint Units"),
    "GLEAdaptToImage": (AdaptToImage, "Adapt To Image"),
    "GLESaveUnits": (SaveUnits, "Save Units"),
    "GLELoadUnits": (LoadUnits, "Load Units"),
}
