"""Nodes of LELSD local directions and the global SeFa / PCA baselines."""
from __future__ import annotations

import os

from ..core.embedded import embedded_choice_names, resolve_embedded
from ..core.io import load_directions, save_directions
from ..core.ops.directions import (SPACES, LearnSettings, apply_directions, learn_for_part, pca_directions,
                                   sefa_directions, traverse)
from . import comfy_bridge as bridge
from .catalog_nodes import parse_strengths

CATEGORY = "GAN Local Edit/Directions"
GEN = ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."})
DIRS = ("GLE_DIRECTIONS", {"tooltip": "From Learn Local Direction, Global Directions or Load Directions."})
LAT = ("GLE_LATENT", {"tooltip": "Latents from sampling or inversion."})


class LearnLocalDirection:
    DESCRIPTION = ("Learn latent directions that change only one part (LELSD): the part's masks come from a "
                   "catalog label (e.g. 'mouth') or from a MASK. Reference schedule: 200*K batches of 4, Adam 1e-3.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_DIRECTIONS", "STRING")
    RETURN_NAMES = ("directions", "info")
    OUTPUT_TOOLTIPS = ("K unit directions for the part.", "A summary with the localisation score.")
    FUNCTION = "learn"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "space": (list(SPACES), {"default": "w+", "tooltip": "W: one vector; W+: one per layer; S: StyleSpace."}),
            "k": ("INT", {"default": 1, "min": 1, "max": 8, "tooltip": "Distinct directions for the part."}),
            "batches": ("INT", {"default": 0, "min": 0, "max": 100000,
                                "tooltip": "Training batches; 0 = the reference 200 * K."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                             "tooltip": "Seed of the samples and of the starting directions."}),
            "label": ("STRING", {"default": "mouth", "tooltip": "The catalog label (or cluster numbers) of the part."}),
        }, "optional": {
            "catalog": ("GLE_CATALOG", {"tooltip": "Masks from this catalog's clusters of the label."}),
            "mask": ("MASK", {"tooltip": "Or: one fixed region used for every sample (instead of a catalog)."}),
            "alpha": ("FLOAT", {"default": 0.25, "min": 0.05, "max": 10.0, "step": 0.05,
                                "tooltip": "Largest training strength (units of the space's spread); strengths "
                                           "are drawn between alpha/6 and alpha with a random sign."}),
            "gamma": ("FLOAT", {"default": 5.0, "min": 0.0, "max": 100.0, "step": 0.5,
                                "tooltip": "Weight keeping the K directions distinct."}),
            "lr": ("FLOAT", {"default": 1e-3, "min": 1e-5, "max": 1.0, "step": 1e-4,
                             "tooltip": "Adam learning rate (halved 3 times)."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def learn(self, generator, space, k, batches, seed, label, catalog=None, mask=None, alpha=0.25, gamma=5.0,
              lr=1e-3, unique_id=None):
        st = LearnSettings(space=space, k=k, batches=batches, seed=seed, alpha=alpha, gamma=gamma, lr=lr)
        d = learn_for_part(generator, st, catalog=catalog, label=label, mask=mask,
                           on_step=bridge.Progress(st.total, unique_id))
        return (d, f"{d.describe()}; score {d.meta['score_first']:.3f} -> {d.meta['score_last_tenth']:.3f}")


def directions_choices() -> list[str]:
    return embedded_choice_names("directions") + bridge.list_model_files(bridge.DIRECTIONS_FOLDER)


def directions_path(choice: str) -> str:
    return resolve_embedded(choice, "directions") or bridge.model_file_path(choice, bridge.DIRECTIONS_FOLDER)


class LoadDirections:
    DESCRIPTION = "Load saved directions (models/gan_directions) and check that they belong to the generator."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_DIRECTIONS", "STRING")
    RETURN_NAMES = ("directions", "info")
    OUTPUT_TOOLTIPS = ("The directions.", "A summary.")
    FUNCTION = "load"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "directions": (directions_choices() or ["(no directions saved yet)"],
                           {"tooltip": "Shipped ('embedded: ...') or a file from models/gan_directions."}),
            "generator": GEN,
        }}

    @classmethod
    def IS_CHANGED(cls, directions, **_):
        try:
            return bridge.file_state(directions_path(directions))
        except FileNotFoundError:
            return "missing"

    def load(self, directions, generator):
        d = load_directions(directions_path(directions), generator)
        return (d, d.describe())


class SaveDirections:
    DESCRIPTION = "Save directions (safetensors) to models/gan_directions."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("STRING",)
    RETURN_NAMES = ("path",)
    OUTPUT_TOOLTIPS = ("Where the directions were written.",)
    FUNCTION = "save"
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "directions": DIRS,
            "filename": ("STRING", {"default": "directions", "tooltip": "File name (.safetensors is added)."}),
            "overwrite": ("BOOLEAN", {"default": False, "tooltip": "Replace an existing file of that name."}),
        }}

    def save(self, directions, filename, overwrite):
        name = filename.strip()
        if not name.endswith(".safetensors"):
            name += ".safetensors"
        path = bridge.output_path(name, bridge.DIRECTIONS_FOLDER)
        if os.path.exists(path) and not overwrite:
            raise FileExistsError(f"{path} exists; set overwrite to replace it")
        save_directions(directions, path)
        return {"ui": {"text": [path]}, "result": (path,)}


class GlobalDirections:
    DESCRIPTION = ("Global W directions: SeFa (closed-form eigenvectors of the style affines) or GANSpace-style "
                   "PCA of sampled w. They change the whole image; for comparison with local directions.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_DIRECTIONS", "STRING")
    RETURN_NAMES = ("directions", "info")
    OUTPUT_TOOLTIPS = ("K unit W directions, strongest first.", "A summary.")
    FUNCTION = "compute"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "method": (["sefa", "pca"], {"default": "sefa", "tooltip": "SeFa (no sampling) or PCA of 5000 w."}),
            "k": ("INT", {"default": 5, "min": 1, "max": 512, "tooltip": "How many directions (strongest first)."}),
            "layers": ("STRING", {"default": "", "tooltip": "SeFa: styled layer names, comma separated; empty = all."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "tooltip": "PCA: seed of the samples."}),
        }}

    def compute(self, generator, method, k, layers, seed):
        if method == "sefa":
            names = [t.strip() for t in layers.split(",") if t.strip()]
            d = sefa_directions(generator, k=k, layers=names or None)
        else:
            d = pca_directions(generator, k=k, seed=seed)
        return (d, d.describe())


class TraverseDirection:
    DESCRIPTION = "Each latent moved along one direction by every strength in the list (one batched render)."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "GLE_LATENT")
    RETURN_NAMES = ("strip", "latents")
    OUTPUT_TOOLTIPS = ("Images grouped per latent: latent 0 at every strength, then latent 1, ...",
                       "The moved latents, in the same order.")
    FUNCTION = "traverse"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN, "latents": LAT, "directions": DIRS,
            "index": ("INT", {"default": 0, "min": 0, "max": 511, "tooltip": "Which of the K directions."}),
            "alphas": ("STRING", {"default": "-1, -0.5, 0, 0.5, 1",
                                  "tooltip": "Strengths, comma separated (units of the space's spread)."}),
        }}

    def traverse(self, generator, latents, directions, index, alphas):
        img, moved = traverse(generator, latents, directions, index, parse_strengths(alphas))
        return (bridge.image_to_comfy(img), moved)


class ApplyDirections:
    DESCRIPTION = "Add up to three directions with their strengths to latents (e.g. a smile and open eyes at once)."
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_LATENT",)
    RETURN_NAMES = ("latents",)
    OUTPUT_TOOLTIPS = ("The moved latents (StyleSpace codes when an S direction is used).",)
    FUNCTION = "apply"

    @classmethod
    def INPUT_TYPES(cls):
        slot = lambda: {"default": 0.0, "min": -50.0, "max": 50.0, "step": 0.05,  # noqa: E731
                        "tooltip": "Strength (units of the space's spread; 0 = off)."}
        idx = {"default": 0, "min": 0, "max": 511, "tooltip": "Which of the K directions."}
        return {"required": {
            "generator": GEN, "latents": LAT, "directions_1": DIRS,
            "index_1": ("INT", dict(idx)), "strength_1": ("FLOAT", {**slot(), "default": 1.0}),
        }, "optional": {
            "directions_2": (DIRS[0], {"tooltip": "Optional second directions."}), "index_2": ("INT", dict(idx)), "strength_2": ("FLOAT", slot()),
            "directions_3": (DIRS[0], {"tooltip": "Optional third directions."}), "index_3": ("INT", dict(idx)), "strength_3": ("FLOAT", slot()),
        }}

    def apply(self, generator, latents, directions_1, index_1, strength_1, directions_2=None, index_2=0,
              strength_2=0.0, directions_3=None, index_3=0, strength_3=0.0):
        items = [(d, i, s) for d, i, s in ((directions_1, index_1, strength_1), (directions_2, index_2, strength_2),
                                           (directions_3, index_3, strength_3)) if d is not None]
        return (apply_directions(generator, latents, items),)


NODES = {
    "GLELearnLocalDirection": (LearnLocalDirection, "Learn Local Direction"),
    "GLESaveDirections": (SaveDirections, "Save Directions"),
    "GLELoadDirections": (LoadDirections, "Load Directions"),
    "GLEGlobalDirections": (GlobalDirections, "Global Directions"),
    "GLETraverseDirection": (TraverseDirection, "Traverse Direction"),
    "GLEApplyDirections": (ApplyDirections, "Apply Directions"),
}
