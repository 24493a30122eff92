"""Nodes of Editing in Style: semantic catalog, cluster masks, local style transfer, locality."""
from __future__ import annotations

import math
import os

import torch
import torch.nn.functional as F

from ..core.embedded import embedded_choice_names, resolve_embedded
from ..core.io import load_catalog, save_catalog
from ..core.metrics import heatmap, in_out_mse, lab_squared_error
from ..core.ops.catalog import build_catalog, catalog_mask, cluster_maps, parse_labels
from ..core.ops.catalog_preview import overlay_clusters
from ..core.ops.generate import render
from ..core.ops.style_transfer import DEFAULT_LAMBDA, MODES, TransferSettings, local_transfer
from . import comfy_bridge as bridge

CATEGORY = "GAN Local Edit/Editing in Style"
GEN = ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."})
CAT = ("GLE_CATALOG", {"tooltip": "From Build Semantic Catalog or Load Catalog."})


def parse_strengths(text: str) -> list[float]:
    """'30, 50, 80' -> [30.0, 50.0, 80.0] (one output image per value)."""
    try:
        values = [float(t) for t in text.replace(";", ",").split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"strength must be numbers separated by commas, got {text!r}") from None
    if not values:
        raise ValueError("strength needs at least one value")
    if len(values) > 32:
        raise ValueError("at most 32 strength values")
    return values


class BuildSemanticCatalog:
    DESCRIPTION = ("Cluster one layer's activations over many samples (spherical k-means) into semantic parts "
                   "and measure every style channel's contribution to each part (Editing in Style).")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_CATALOG", "STRING")
    RETURN_NAMES = ("catalog", "info")
    OUTPUT_TOOLTIPS = ("The catalog: clusters + per-layer channel contributions.", "A summary.")
    FUNCTION = "build"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "n_samples": ("INT", {"default": 200, "min": 10, "max": 5000,
                                  "tooltip": "Images whose activations are clustered (the paper uses 200)."}),
            "k": ("INT", {"default": 10, "min": 2, "max": 64, "tooltip": "Number of clusters."}),
            "layer": ("STRING", {"default": "", "tooltip": "Layer to cluster: empty = the first 32x32 conv "
                                                          "(the most semantic); a resolution like 16; or a name "
                                                          "like b32.conv0."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                             "tooltip": "Seed of the samples and of k-means."}),
            "truncation_psi": ("FLOAT", {"default": 0.7, "min": 0.0, "max": 1.0, "step": 0.05,
                                         "tooltip": "Truncation of the samples."}),
        }, "optional": {
            "position_weight": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 100.0, "step": 0.1,
                                          "tooltip": "0 = the paper's plain k-means. > 0 appends each position's "
                                                     "(y, x) times this weight to the features, so clusters are "
                                                     "also compact in the image (e.g. eyes and mouth apart); "
                                                     "1.0 made the shipped faces64 catalog."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def build(self, generator, n_samples, k, layer, seed, truncation_psi, position_weight=0.0, unique_id=None):
        progress = bridge.Progress(1, unique_id)
        cat = build_catalog(generator, n_samples=n_samples, k=k, layer=layer.strip() or None, seed=seed,
                            truncation_psi=truncation_psi, on_step=progress, position_weight=position_weight)
        return (cat, cat.describe())


def catalog_choices() -> list[str]:
    return embedded_choice_names("catalog") + bridge.list_model_files(bridge.CATALOG_FOLDER)


class LoadCatalog:
    DESCRIPTION = "Load a saved catalog (models/gan_catalogs) and check that it belongs to the generator."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_CATALOG", "STRING")
    RETURN_NAMES = ("catalog", "info")
    OUTPUT_TOOLTIPS = ("The catalog.", "A summary with its labels.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "catalog": (catalog_choices() or ["(no catalogs saved yet)"],
                        {"tooltip": "A catalog from models/gan_catalogs, or one shipped with the pack."}),
            "generator": GEN,
        }}

    @staticmethod
    def _path(catalog):
        return resolve_embedded(catalog, "catalog") or bridge.model_file_path(catalog, bridge.CATALOG_FOLDER)

    @classmethod
    def IS_CHANGED(cls, catalog, **_):
        try:
            return bridge.file_state(cls._path(catalog))
        except FileNotFoundError:
            return "missing"

    def load(self, catalog, generator):
        path = self._path(catalog)
        cat = load_catalog(path, generator)
        return (cat, cat.describe())


class SaveCatalog:
    DESCRIPTION = "Save a catalog (safetensors, with its labels) to models/gan_catalogs."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the catalog was written.",)
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "catalog": CAT,
            "filename": ("STRING", {"default": "catalog", "tooltip": "File name (.safetensors is added)."}),
            "overwrite": ("BOOLEAN", {"default": False, "tooltip": "Replace an existing file of that name."}),
        }}

    def save(self, catalog, filename, overwrite):
        name = filename.strip()
        if not name.endswith(".safetensors"):
            name += ".safetensors"
        path = bridge.output_path(name, bridge.CATALOG_FOLDER)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; set overwrite to replace it")
        save_catalog(catalog, path)
        return {"ui": {"text": [path]}, "result": (path,)}


class LabelCatalogClusters:
    DESCRIPTION = ("Name clusters (several clusters can share a name): e.g. 'eyes: 3,7; mouth: 5'. "
                   "Read the numbers off Catalog Cluster Preview. Empty text leaves the catalog as it is; "
                   "a label the catalog already has is re-pointed only when 'overwrite' is on.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_CATALOG", "STRING")
    RETURN_NAMES = ("catalog", "info")
    OUTPUT_TOOLTIPS = ("A copy of the catalog with the labels.", "A summary.")
    FUNCTION = "label"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "catalog": CAT,
            "labels": ("STRING", {"default": "", "multiline": True,
                                  "tooltip": "name: cluster numbers, e.g. 'eyes: 3,7; mouth: 5'; entries separated "
                                             "by ';' or new lines. Empty = no change."}),
        }, "optional": {
            "overwrite": ("BOOLEAN", {"default": False,
                                      "tooltip": "Allow re-pointing labels the catalog already has (e.g. the "
                                                 "shipped catalog's eyes/nose/mouth). Off: such a change is refused."}),
        }}

    def label(self, catalog, labels, overwrite=False):
        new = parse_labels(labels)
        changed = {k: v for k, v in new.items() if k in catalog.labels and tuple(catalog.labels[k]) != tuple(v)}
        if changed and not overwrite:
            old = "; ".join(f"{k}: {','.join(map(str, catalog.labels[k]))}" for k in changed)
            raise ValueError(f"the catalog already labels {old}; turn on 'overwrite' to re-point "
                             f"{', '.join(repr(k) for k in changed)}")
        cat = catalog.with_labels(new) if new else catalog
        return (cat, cat.describe())


class CatalogClusterPreview:
    DESCRIPTION = "Colour-coded cluster maps over the images of some latents, with cluster numbers."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("preview",)
    OUTPUT_TOOLTIPS = ("One overlay per latent, up-scaled to at least 256 px.",)
    FUNCTION = "preview"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN, "catalog": CAT,
            "latents": ("GLE_LATENT", {"tooltip": "Images to show the clusters on."}),
            "opacity": ("FLOAT", {"default": 0.55, "min": 0.0, "max": 1.0, "step": 0.05,
                                  "tooltip": "0 = image only, 1 = cluster colours only."}),
        }}

    def preview(self, generator, catalog, latents, opacity):
        maps = cluster_maps(generator, catalog, latents)
        images = render(generator, latents)
        scale = max(1, math.ceil(256 / generator.resolution))
        return (bridge.image_to_comfy(overlay_clusters(images, maps, opacity, scale=scale)),)


class CatalogMask:
    DESCRIPTION = "The region of a labelled part (e.g. 'eyes') in each latent's image, as a MASK."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MASK",)
    RETURN_NAMES = ("mask",)
    OUTPUT_TOOLTIPS = ("[B, H, W] at the generator's resolution; 1 inside the part.",)
    FUNCTION = "mask"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN, "catalog": CAT,
            "latents": ("GLE_LATENT", {"tooltip": "Images to find the part in."}),
            "label": ("STRING", {"default": "eyes", "tooltip": "A label name, or cluster numbers like 3,7."}),
            "soft": ("BOOLEAN", {"default": False, "tooltip": "Soft edges instead of a 0/1 mask."}),
        }}

    def mask(self, generator, catalog, latents, label, soft):
        return (catalog_mask(generator, catalog, latents, label.strip(), soft=soft),)


class CatalogStyleTransfer:
    DESCRIPTION = ("Transfer the appearance of one part (e.g. eyes) from a reference to a target by mixing "
                   "only the style channels that drive that part. Several strengths give an interpolation strip.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "GLE_LATENT")
    RETURN_NAMES = ("images", "latents")
    OUTPUT_TOOLTIPS = ("Edited images, pair-major then strength.", "Edited StyleSpace latents (Generate Image "
                                                                     "renders them).")
    FUNCTION = "transfer"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN, "catalog": CAT,
            "target": ("GLE_LATENT", {"tooltip": "Images to edit (one, or as many as references)."}),
            "reference": ("GLE_LATENT", {"tooltip": "Images whose part is copied."}),
            "label": ("STRING", {"default": "eyes", "tooltip": "A label name, or cluster numbers like 3,7."}),
            "mode": (list(MODES), {"default": "sequential",
                                   "tooltip": "sequential = better locality (budget epsilon: 'strength'); "
                                              "simultaneous = lambda * contribution ('lambda')."}),
            "strength": ("STRING", {"default": "50", "tooltip": "Sequential mode: the budget epsilon (10-100); "
                                                                "comma-separated for a sweep. Not used by "
                                                                "simultaneous mode (see 'lambda')."}),
            "epsilon_low": ("FLOAT", {"default": 5.0, "min": 0.0, "max": 1000.0,
                                      "tooltip": "Sequential budget of the 4x4 and 8x8 layers."}),
            "rho_threshold": ("FLOAT", {"default": 0.1, "min": 0.0, "max": 0.99, "step": 0.01,
                                        "tooltip": "Channels with contribution below this are never moved "
                                                   "(rho / (1 + rho))."}),
        }, "optional": {
            "lambda": ("STRING", {"default": f"{DEFAULT_LAMBDA:g}",
                                  "tooltip": "Simultaneous mode: q = min(1, lambda x contribution), 0.5-5 (a "
                                             "channel's contribution is its share in the part, 0-1); "
                                             "comma-separated for a sweep. Not used by sequential mode."}),
        }}

    def transfer(self, generator, catalog, target, reference, label, mode, strength, epsilon_low, rho_threshold,
                 **optional):
        # one control per query mode: epsilon (a budget, tens) and lambda (a gain, ~1) have different scales
        values = strength if mode == "sequential" else optional.get("lambda", f"{DEFAULT_LAMBDA:g}")
        settings = [TransferSettings(mode, v, epsilon_low, rho_threshold) for v in parse_strengths(values)]
        edited = local_transfer(generator, catalog, target, reference, label.strip(), settings)
        return (bridge.image_to_comfy(render(generator, edited)), edited)


def _expand_batch(t: torch.Tensor, b: int, what: str) -> torch.Tensor:
    """Repeat a batch of 1 or of b/n items (one per pair of a sweep) to b items."""
    n = t.shape[0]
    if n == b:
        return t
    if n == 0 or b % n:
        raise ValueError(f"{n} {what} cannot be matched to {b} edited images")
    return t.repeat_interleave(b // n, dim=0)


def _mask_at(mask: torch.Tensor, h: int, w: int) -> torch.Tensor:
    m = mask.float()
    if m.ndim == 2:
        m = m[None]
    if m.shape[-2:] != (h, w):
        m = F.interpolate(m[:, None], size=(h, w), mode="bilinear", align_corners=False)[:, 0]
    return m


class LocalityReport:
    DESCRIPTION = ("How local an edit is: squared CIELAB difference between target and edited images, averaged "
                   "inside (In-MSE) and outside (Out-MSE) a region, with a heat map.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("heatmap", "report")
    OUTPUT_TOOLTIPS = ("Per-pixel difference (black = none, white = largest in the batch).",
                       "In-MSE and Out-MSE per image and their means.")
    FUNCTION = "report"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "target": ("IMAGE", {"tooltip": "The unedited image(s); one is compared against every edit."}),
            "edited": ("IMAGE", {"tooltip": "The edited image(s)."}),
            "mask": ("MASK", {"tooltip": "The region that was meant to change (e.g. from Catalog Mask)."}),
        }}

    def report(self, target, edited, mask):
        b, h, w, _ = edited.shape
        if target.shape[1:3] != (h, w):
            raise ValueError(f"target is {tuple(target.shape[1:3])} but edited is {(h, w)}")
        t = bridge.image_from_comfy(_expand_batch(target, b, "target images"), "target")
        m = _expand_batch(_mask_at(mask, h, w), b, "masks")
        err = lab_squared_error(t, bridge.image_from_comfy(edited, "edited"))
        inside, outside = in_out_mse(err, m)
        lines = [f"image {i}: In-MSE {a:.2f}  Out-MSE {o:.2f}" for i, (a, o) in enumerate(zip(inside, outside))]
        lines.append(f"mean: In-MSE {inside.nanmean():.2f}  Out-MSE {outside.nanmean():.2f}  (CIELAB, squared)")
        text = "\n".join(lines)
        return {"ui": {"text": [text]}, "result": (bridge.image_to_comfy(heatmap(err, scale=float(err.max()))), text)}


NODES = {
    "GLEBuildSemanticCatalog": (BuildSemanticCatalog, "Build Semantic Catalog"),
    "GLESaveCatalog": (SaveCatalog, "Save Catalog"),
    "GLELoadCatalog": (LoadCatalog, "Load Catalog"),
    "GLELabelCatalogClusters": (LabelCatalogClusters, "Label Catalog Clusters"),
    "GLECatalogClusterPreview": (CatalogClusterPreview, "Catalog Cluster Preview"),
    "GLECatalogMask": (CatalogMask, "Catalog Mask"),
    "GLECatalogStyleTransfer": (CatalogStyleTransfer, "Catalog Style Transfer"),
    "GLELocalityReport": (LocalityReport, "Locality Report"),
}
