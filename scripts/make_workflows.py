"""Write the shipped example graphs in both ComfyUI formats.

The API-format graphs below are the source of truth (what headless users POST); each is
laid out into a UI-format graph for drag-and-drop and the template browser: widget values in
the order the real frontend saves them (tests/fixtures/frontend_widgets.json, recorded by
scripts/probe_frontend.js), columns left to right by graph depth, node sizes at least the
frontend's own, and one Note per template (NOTES, required). ``tests/test_workflows.py``
converts every UI file back with ``headless.ui_format`` and requires the API file; the rig in
../shared/tools/comfyui-rig/ checks the same against the real frontend.

    python scripts/make_workflows.py          # rewrites workflows/ and example_workflows/
"""
from __future__ import annotations

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, load_pack  # noqa: E402

pack = load_pack()
from gan_local_edit.headless.executor import node_registry  # noqa: E402
from gan_local_edit.headless.ui_format import SEED_NAMES, frontend_table, saved_layout, widget_inputs  # noqa: E402

EMBEDDED = "embedded: faces64"
STYLEMAP = "embedded: faces64_stylemap"
CATALOG = "embedded: faces64_k64"
LABELS = "eyes: 34,39,45; nose: 8,21,27,28,41,43,55; mouth: 9,19,36,52,59"          # scripts/eval_catalog_parts.py --propose
TARGET_SEED, REFERENCE_SEED = 1000, 2000
NO_SECOND_STROKE = {"concept_2": "mouth", "mode_2": "draw", "strength_2": "medium"}   # widget defaults, unused


def node(class_type, inputs, title=None):
    return {"class_type": class_type, "inputs": inputs, **({"title": title} if title else {})}


WORKFLOWS = {
    "generate": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLESampleLatents", {"generator": ["1", 0], "seed": 42, "count": 8, "truncation_psi": 0.7}),
        "3": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["2", 0], "noise_mode": "const",
                                       "noise_seed": 0}),
        "4": node("SaveImage", {"images": ["3", 0], "filename_prefix": "gle_generate"}),
    },
    "catalog_build": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLEBuildSemanticCatalog", {"generator": ["1", 0], "n_samples": 200, "k": 64,
                                             "layer": "b32.conv1", "seed": 0, "truncation_psi": 0.7,
                                             "position_weight": 1.0}),
        "3": node("GLELabelCatalogClusters", {"catalog": ["2", 0], "labels": LABELS, "overwrite": False}),
        "4": node("GLESaveCatalog", {"catalog": ["3", 0], "filename": "faces64_catalog", "overwrite": True}),
        "5": node("GLESampleLatents", {"generator": ["1", 0], "seed": 7, "count": 8, "truncation_psi": 0.7}),
        "6": node("GLECatalogClusterPreview", {"generator": ["1", 0], "catalog": ["3", 0], "latents": ["5", 0],
                                              "opacity": 0.55}),
        "7": node("SaveImage", {"images": ["6", 0], "filename_prefix": "gle_catalog_clusters"}),
    },
    "catalog_transfer": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLELoadCatalog", {"catalog": CATALOG, "generator": ["1", 0]}),
        "3": node("GLESampleLatents", {"generator": ["1", 0], "seed": TARGET_SEED, "count": 1,
                                       "truncation_psi": 0.7}, title="Target"),
        "4": node("GLESampleLatents", {"generator": ["1", 0], "seed": REFERENCE_SEED, "count": 1,
                                       "truncation_psi": 0.7}, title="Reference"),
        "5": node("GLECatalogStyleTransfer", {"generator": ["1", 0], "catalog": ["2", 0], "target": ["3", 0],
                                              "reference": ["4", 0], "label": "eyes", "mode": "sequential",
                                              "strength": "10, 30, 50, 100", "epsilon_low": 5.0,
                                              "rho_threshold": 0.1, "lambda": "2"}, title="Transfer eyes"),
        "6": node("SaveImage", {"images": ["5", 0], "filename_prefix": "gle_transfer_eyes"}),
        "7": node("GLECatalogStyleTransfer", {"generator": ["1", 0], "catalog": ["2", 0], "target": ["3", 0],
                                              "reference": ["4", 0], "label": "mouth", "mode": "sequential",
                                              "strength": "10, 30, 50, 100", "epsilon_low": 5.0,
                                              "rho_threshold": 0.1, "lambda": "2"}, title="Transfer mouth"),
        "8": node("SaveImage", {"images": ["7", 0], "filename_prefix": "gle_transfer_mouth"}),
        "9": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["3", 0], "noise_mode": "const",
                                       "noise_seed": 0}, title="Target image"),
        "10": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["4", 0], "noise_mode": "const",
                                        "noise_seed": 0}, title="Reference image"),
        "11": node("SaveImage", {"images": ["9", 0], "filename_prefix": "gle_target"}),
        "12": node("SaveImage", {"images": ["10", 0], "filename_prefix": "gle_reference"}),
        "13": node("GLECatalogMask", {"generator": ["1", 0], "catalog": ["2", 0], "latents": ["3", 0],
                                      "label": "eyes", "soft": False}),
        "14": node("GLELocalityReport", {"target": ["9", 0], "edited": ["5", 0], "mask": ["13", 0]}),
        "15": node("SaveImage", {"images": ["14", 0], "filename_prefix": "gle_locality_eyes"}),
        "16": node("GLECatalogClusterPreview", {"generator": ["1", 0], "catalog": ["2", 0], "latents": ["3", 0],
                                               "opacity": 0.55}, title="Target cluster map"),
        "17": node("PreviewImage", {"images": ["16", 0]}),
    },
    "paste": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLESampleLatents", {"generator": ["1", 0], "seed": TARGET_SEED, "count": 1,
                                       "truncation_psi": 0.7}, title="Target"),
        "3": node("GLESampleLatents", {"generator": ["1", 0], "seed": REFERENCE_SEED, "count": 1,
                                       "truncation_psi": 0.7}, title="Reference"),
        "4": node("LoadImageMask", {"image": "gle_paste_reference_mask.png", "channel": "red"},
                  title="Reference mask (white = part to copy)"),
        "5": node("GLEDeformableMatch", {"generator": ["1", 0], "target": ["2", 0], "reference": ["3", 0],
                                         "reference_mask": ["4", 0], "feature_layers": "", "steps": 20}),
        "6": node("GLELatentPaste", {"generator": ["1", 0], "target": ["2", 0], "reference": ["3", 0],
                                     "reference_mask": ["4", 0], "roi": ["5", 1], "steps": 100, "lr": 0.05,
                                     "gamma": 0.1, "layers": 6, "preview_every": 10, "feature_layer": ""}),
        "7": node("SaveImage", {"images": ["6", 0], "filename_prefix": "gle_paste"}),
        "8": node("SaveImage", {"images": ["6", 2], "filename_prefix": "gle_paste_trajectory"}),
        "9": node("PreviewImage", {"images": ["5", 2]}, title="ROI preview (where the part lands)"),
    },
    "invert": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("LoadImage", {"image": "gle_face_a.png"}),
        "3": node("GLEInvertImage", {"generator": ["1", 0], "image": ["2", 0], "space": "W+", "steps": 200,
                                     "seed": 0, "starts": 4, "optimize_noise": True, "vgg16": "none", "refine_steps": 0}),
        "4": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["3", 0], "noise_mode": "const",
                                       "noise_seed": 0}),
        "5": node("SaveImage", {"images": ["4", 0], "filename_prefix": "gle_invert"}),
    },
    "invert_transfer": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("LoadImage", {"image": "gle_face_a.png"}, title="Target photo"),
        "3": node("LoadImage", {"image": "gle_face_b.png"}, title="Reference photo"),
        "4": node("GLEInvertImage", {"generator": ["1", 0], "image": ["2", 0], "space": "W+", "steps": 200,
                                     "seed": 0, "starts": 4, "optimize_noise": True, "vgg16": "none", "refine_steps": 0}, title="Invert target"),
        "5": node("GLEInvertImage", {"generator": ["1", 0], "image": ["3", 0], "space": "W+", "steps": 200,
                                     "seed": 0, "starts": 4, "optimize_noise": True, "vgg16": "none", "refine_steps": 0}, title="Invert reference"),
        "6": node("GLELoadCatalog", {"catalog": CATALOG, "generator": ["1", 0]}),
        "7": node("GLECatalogStyleTransfer", {"generator": ["1", 0], "catalog": ["6", 0], "target": ["4", 0],
                                              "reference": ["5", 0], "label": "mouth", "mode": "sequential",
                                              "strength": "30, 60", "epsilon_low": 5.0, "rho_threshold": 0.1, "lambda": "2"}),
        "8": node("SaveImage", {"images": ["4", 1], "filename_prefix": "gle_invert_target"}),
        "9": node("SaveImage", {"images": ["7", 0], "filename_prefix": "gle_invert_transfer"}),
    },
    "lelsd_learn": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLELoadCatalog", {"catalog": CATALOG, "generator": ["1", 0]}),
        "3": node("GLELearnLocalDirection", {"generator": ["1", 0], "space": "w+", "k": 1, "batches": 100,
                                             "seed": 0, "label": "mouth", "catalog": ["2", 0], "alpha": 0.25,
                                             "gamma": 5.0, "lr": 0.001}),
        "4": node("GLESaveDirections", {"directions": ["3", 0], "filename": "faces64_mouth_learned",
                                        "overwrite": True}),
        "5": node("GLESampleLatents", {"generator": ["1", 0], "seed": 1000, "count": 4, "truncation_psi": 0.7}),
        "6": node("GLETraverseDirection", {"generator": ["1", 0], "latents": ["5", 0], "directions": ["3", 0],
                                           "index": 0, "alphas": "-1, -0.5, 0, 0.5, 1"}),
        "7": node("SaveImage", {"images": ["6", 0], "filename_prefix": "gle_lelsd_mouth"}),
    },
    "lelsd_photo": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("LoadImage", {"image": "gle_face_a.png"}),
        "3": node("GLEInvertImage", {"generator": ["1", 0], "image": ["2", 0], "space": "W+", "steps": 150,
                                     "seed": 0, "starts": 2, "optimize_noise": True, "vgg16": "none",
                                     "refine_steps": 0}),
        "4": node("GLELoadDirections", {"directions": "embedded: faces64_mouth", "generator": ["1", 0]},
                  title="Mouth direction"),
        "5": node("GLELoadDirections", {"directions": "embedded: faces64_eyes", "generator": ["1", 0]},
                  title="Eyes direction"),
        "6": node("GLEApplyDirections", {"generator": ["1", 0], "latents": ["3", 0], "directions_1": ["4", 0],
                                         "index_1": 0, "strength_1": 0.75, "directions_2": ["5", 0],
                                         "index_2": 0, "strength_2": 0.5, "index_3": 0, "strength_3": 0.0}),
        "7": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["6", 0], "noise_mode": "const",
                                       "noise_seed": 0}),
        "8": node("SaveImage", {"images": ["3", 1], "filename_prefix": "gle_lelsd_photo_inverted"}),
        "9": node("SaveImage", {"images": ["7", 0], "filename_prefix": "gle_lelsd_photo_edited"}),
        "10": node("GLETraverseDirection", {"generator": ["1", 0], "latents": ["3", 0], "directions": ["4", 0],
                                            "index": 0, "alphas": "-1, -0.5, 0, 0.5, 1"}),
        "11": node("SaveImage", {"images": ["10", 0], "filename_prefix": "gle_lelsd_photo_mouth"}),
    },
    "stylemap_blend": {
        "1": node("GLELoadGenerator", {"model": STYLEMAP, "device": "auto"}),
        "2": node("LoadImage", {"image": "gle_face_a.png"}, title="Source photo"),
        "3": node("LoadImage", {"image": "gle_face_b.png"}, title="Reference photo"),
        "4": node("GLEEncodeImage", {"generator": ["1", 0], "image": ["2", 0]}, title="Encode source"),
        "5": node("GLEEncodeImage", {"generator": ["1", 0], "image": ["3", 0]}, title="Encode reference"),
        "6": node("LoadImageMask", {"image": "gle_stylemap_mouth_mask.png", "channel": "red"},
                  title="Mouth mask (white = region to take)"),
        "7": node("GLEStylemapBlend", {"generator": ["1", 0], "source": ["4", 0], "reference": ["5", 0],
                                       "reference_mask": ["6", 0], "space": "w", "strength": "0, 0.5, 1",
                                       "feather": 0.0, "offset_x": 0.0, "offset_y": 0.0, "scale": 1.0},
                  title="Blend mouth (w)"),
        "8": node("SaveImage", {"images": ["7", 0], "filename_prefix": "gle_stylemap_blend_w"}),
        "9": node("GLEStylemapBlend", {"generator": ["1", 0], "source": ["4", 0], "reference": ["5", 0],
                                       "reference_mask": ["6", 0], "space": "w+", "strength": "1",
                                       "feather": 2.0, "offset_x": 0.0, "offset_y": 0.0, "scale": 1.0},
                  title="Blend mouth (w+, feathered)"),
        "10": node("SaveImage", {"images": ["9", 0], "filename_prefix": "gle_stylemap_blend_wplus"}),
        "11": node("SaveImage", {"images": ["4", 1], "filename_prefix": "gle_stylemap_recon_source"}),
        "12": node("SaveImage", {"images": ["5", 1], "filename_prefix": "gle_stylemap_recon_reference"}),
    },
    "stylemap_transplant": {
        "1": node("GLELoadGenerator", {"model": STYLEMAP, "device": "auto"}),
        "2": node("GLESampleLatents", {"generator": ["1", 0], "seed": TARGET_SEED, "count": 1,
                                       "truncation_psi": 0.7}, title="Source"),
        "3": node("LoadImage", {"image": "gle_face_b.png"}, title="Reference photo"),
        "4": node("GLEEncodeImage", {"generator": ["1", 0], "image": ["3", 0]}, title="Encode reference"),
        "5": node("LoadImageMask", {"image": "gle_stylemap_mouth_mask.png", "channel": "red"},
                  title="Reference mask (white = part to move)"),
        "6": node("GLEDeformableMatch", {"generator": ["1", 0], "target": ["2", 0], "reference": ["4", 0],
                                         "reference_mask": ["5", 0], "feature_layers": "", "steps": 20}),
        "7": node("GLEStylemapBlend", {"generator": ["1", 0], "source": ["2", 0], "reference": ["4", 0],
                                       "reference_mask": ["5", 0], "roi": ["6", 1], "space": "w+",
                                       "strength": "0.5, 1", "feather": 0.0, "offset_x": 0.0, "offset_y": 0.0,
                                       "scale": 1.0}, title="Transplant at the ROI"),
        "8": node("SaveImage", {"images": ["7", 0], "filename_prefix": "gle_stylemap_transplant"}),
        "9": node("PreviewImage", {"images": ["6", 2]}, title="ROI preview (where the part lands)"),
        "10": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["2", 0], "noise_mode": "const",
                                        "noise_seed": 0}, title="Source image"),
        "11": node("SaveImage", {"images": ["10", 0], "filename_prefix": "gle_stylemap_source"}),
    },
    "ganpaint_faces": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("GLELoadCatalog", {"catalog": CATALOG, "generator": ["1", 0]}),
        "3": node("GLEDissectUnits", {"generator": ["1", 0], "layer": "b16.conv1", "n_samples": 40, "seed": 0,
                                      "truncation_psi": 0.7, "catalog": ["2", 0], "labels": "eyes, mouth"}),
        "4": node("GLESampleLatents", {"generator": ["1", 0], "seed": TARGET_SEED, "count": 1,
                                       "truncation_psi": 0.7}),
        "5": node("GLEGenerateImage", {"generator": ["1", 0], "latents": ["4", 0], "noise_mode": "const",
                                       "noise_seed": 0}, title="Original"),
        "6": node("GLECatalogMask", {"generator": ["1", 0], "catalog": ["2", 0], "latents": ["4", 0],
                                     "label": "mouth", "soft": False}, title="Mouth region"),
        "7": node("GLECatalogMask", {"generator": ["1", 0], "catalog": ["2", 0], "latents": ["4", 0],
                                     "label": "eyes", "soft": False}, title="Eye region"),
        "8": node("GLEPaintUnits", {"generator": ["1", 0], "units": ["3", 0], "latents": ["4", 0], "mask": ["6", 0],
                                    "concept": "mouth", "mode": "remove", "strength": "high", **NO_SECOND_STROKE},
                  title="Mouth off"),
        "9": node("GLEPaintUnits", {"generator": ["1", 0], "units": ["3", 0], "latents": ["4", 0], "mask": ["7", 0],
                                    "concept": "eyes", "mode": "remove", "strength": "high", "mask_2": ["6", 0],
                                    "concept_2": "mouth", "mode_2": "draw", "strength_2": "medium"},
                  title="Eyes off, mouth on"),
        "10": node("SaveImage", {"images": ["5", 0], "filename_prefix": "gle_ganpaint_original"}),
        "11": node("SaveImage", {"images": ["8", 0], "filename_prefix": "gle_ganpaint_mouth_off"}),
        "12": node("SaveImage", {"images": ["9", 0], "filename_prefix": "gle_ganpaint_eyes_off_mouth_on"}),
    },
    "ganpaint_photo": {
        "1": node("GLELoadGenerator", {"model": EMBEDDED, "device": "auto"}),
        "2": node("LoadImage", {"image": "gle_face_a.png"}, title="Photo"),
        "3": node("GLEInvertImage", {"generator": ["1", 0], "image": ["2", 0], "space": "W+", "steps": 150,
                                     "seed": 0, "starts": 2, "optimize_noise": True, "vgg16": "none",
                                     "refine_steps": 0}),
        "4": node("GLEAdaptToImage", {"generator": ["1", 0], "image": ["2", 0], "latents": ["3", 0], "steps": 100,
                                      "lr": 0.1, "reg": 0.1}),
        "5": node("GLELoadCatalog", {"catalog": CATALOG, "generator": ["1", 0]}),
        "6": node("GLEDissectUnits", {"generator": ["1", 0], "layer": "b16.conv1", "n_samples": 40, "seed": 0,
                                      "truncation_psi": 0.7, "catalog": ["5", 0], "labels": "mouth"}),
        "7": node("LoadImageMask", {"image": "gle_ganpaint_mouth_mask.png", "channel": "red"},
                  title="Mouth mask (white = paint here)"),
        "8": node("GLEPaintUnits", {"generator": ["4", 0], "units": ["6", 0], "latents": ["3", 0], "mask": ["7", 0],
                                    "concept": "mouth", "mode": "remove", "strength": "high", **NO_SECOND_STROKE},
                  title="Mouth off"),
        "9": node("SaveImage", {"images": ["4", 1], "filename_prefix": "gle_ganpaint_photo_adapted"}),
        "10": node("SaveImage", {"images": ["8", 0], "filename_prefix": "gle_ganpaint_photo_mouth_off"}),
        "11": node("SaveImage", {"images": ["3", 1], "filename_prefix": "gle_ganpaint_photo_inverted"}),
    },
}

# One Note per template (required): what it does and which widgets to try. UI only: the frontend
# leaves Note nodes out of the prompt, so the API twins do not have them.
NOTES = {
    "generate": "Samples faces from the embedded 64x64 model and saves them.\n\nTry: Sample Latents seed "
                "and count; truncation_psi (lower = more average faces); Generate Image noise_mode.",
    "catalog_build": "Builds a semantic catalog: k-means of the generator's features over n_samples faces, "
                     "then names clusters (Label Catalog Clusters) and saves it to models/gan_catalogs.\n\n"
                     "Read the numbered cluster map, then edit labels ('eyes: 3,7; mouth: 5'). Try k, layer, "
                     "n_samples.",
    "catalog_transfer": "Moves the eyes and the mouth of the Reference face onto the Target with the catalog "
                        "(StyleSpace channels of that part).\n\nTry: the Target/Reference seeds; label; "
                        "strength (a list like '10, 30' gives one image each); mode simultaneous + lambda. "
                        "The cluster map shows the catalog's parts on the target; the locality report shows "
                        "how much changed outside the eye mask.",
    "paste": "Copies the part of the Reference under the white of the mask image onto the Target: Deformable "
             "Match finds where it belongs (ROI preview), Latent Paste optimises W+ to paste it.\n\nTry: your "
             "own mask (LoadImageMask, channel red); steps; gamma (higher keeps the rest closer); layers.",
    "invert": "Projects a photo (gle_face_a.png, copied to ComfyUI's input folder by the pack) into the "
              "generator's W+ and renders the reconstruction.\n\nTry: your own face photo; steps; starts; "
              "space W vs W+; optimize_noise; refine_steps.",
    "stylemap_blend": "StyleMapGAN local editing: encodes two photos with ONE encoder pass each (no "
                      "optimisation), then takes the mouth of the Reference into the Source in one decoder pass. "
                      "w mixes the 8x8 stylemap (paper); w+ mixes every stylecode at its resolution.\n\nTry: "
                      "your own photos and mask; strength list; feather; offset_x/offset_y/scale to move the "
                      "region (unaligned transplantation).",
    "stylemap_transplant": "Unaligned transplantation: Deformable Match finds where the Reference photo's mouth "
                           "belongs on the sampled Source face (ROI preview), and Stylemap Blend moves the "
                           "reference region there.\n\nTry: the Source seed; your own mask; space w vs w+; "
                           "strength.",
    "ganpaint_faces": "GANPaint on a generated face: Dissect Units ranks the units of b16.conv1 for the "
                      "catalog's eyes and mouth (IoU with the catalog masks over 40 samples), then Paint Units "
                      "switches the top units off (remove) or on (draw) inside the catalog's regions.\n\nTry: "
                      "strength low/medium/high (4/10/15 units); mode; n_samples (200 as the paper); the seed.",
    "ganpaint_photo": "GANPaint on a photo: Invert Image, then Adapt To Image fits small multiplicative deltas on "
                      "the fine layers so the generator reproduces the photo (the fast preview G'), then Paint "
                      "Units turns the mouth units off under the mask.\n\nTry: Adapt steps (paper: 1000); your "
                      "own photo and mask (LoadImageMask, white = paint); mode draw; strength.",
    "invert_transfer": "Inverts two photos, then moves the mouth of the Reference photo onto the Target photo "
                       "with the catalog.\n\nTry: other photos; label (eyes, nose, mouth); strength list.",
    "lelsd_learn": "Learns a latent direction that changes only the mouth (LELSD; the part's masks come from "
                   "the catalog label), saves it to models/gan_directions and moves 4 faces along it.\n\n"
                   "Try: label (eyes, nose, mouth); space w / w+ / s; k = 2 for two distinct mouth edits; "
                   "batches (0 = the reference 200 per direction; 100 here to be quick); alphas.",
    "lelsd_photo": "Inverts a photo, then adds the shipped mouth and eyes directions (learned on faces64 from "
                   "the catalog) with the strengths on Apply Directions, and shows the mouth direction as a "
                   "strip.\n\nTry: drag strength_1 / strength_2 (negative reverses the edit); your own photo; "
                   "directions you learned (Load Directions lists models/gan_directions).",
}
NOTE_SIZE = [420, 200]
MIN_WIDTH, GAP_X, GAP_Y, TITLE_H = 320, 70, 50, 30
IMAGE_NODE_HEIGHT = 300      # room for the image the frontend draws inside load/save/preview nodes
IMAGE_NODES = {"LoadImage", "LoadImageMask", "SaveImage", "PreviewImage"}


def _node_size(class_type, title):
    """At least the size the real frontend computes (tests/fixtures/frontend_widgets.json)."""
    w, h = (frontend_table().get(class_type) or {}).get("size") or [MIN_WIDTH, 200]
    w = max(w, MIN_WIDTH, 12 + 8 * len(title or ""))
    if class_type in IMAGE_NODES:
        h = max(h, IMAGE_NODE_HEIGHT)
    return [int(w), int(h) + 20]


def _control_values(name, kind, opts):
    if kind == "INT":
        control = opts.get("control_after_generate")
        if control is None and name in SEED_NAMES:
            control = "randomize"
        if control:
            return ["fixed" if control is True else control]
    if isinstance(kind, list) and opts.get("image_upload"):
        return ["image"]
    return []


def _depths(graph):
    depth = {}

    def d(nid):
        if nid not in depth:
            ups = [v[0] for v in graph[nid]["inputs"].values() if isinstance(v, list)]
            depth[nid] = 1 + max((d(u) for u in ups), default=-1)
        return depth[nid]

    for nid in graph:
        d(nid)
    return depth


def api_to_ui(name, graph, classes, titles):
    depth = _depths(graph)
    links, nodes = [], []
    out_links = {}
    order = sorted(graph, key=lambda n: (depth[n], int(n)))
    sizes = {nid: _node_size(graph[nid]["class_type"], graph[nid].get("title")) for nid in graph}
    note_id = max(int(n) for n in graph) + 1
    columns = {}
    for nid in order:
        columns.setdefault(depth[nid], []).append(nid)
    # left to right by graph depth; the note heads the first column
    x, pos = 40, {}
    for col in sorted(columns):
        width = max(sizes[n][0] for n in columns[col])
        y = 60 + (NOTE_SIZE[1] + TITLE_H + GAP_Y if col == 0 else 0)
        for nid in columns[col]:
            pos[nid] = [x, y]
            y += sizes[nid][1] + TITLE_H + GAP_Y
        x += max(width, NOTE_SIZE[0] if col == 0 else 0) + GAP_X
    for k, nid in enumerate(order):
        spec = graph[nid]
        cls = classes[spec["class_type"]]
        widget_names = {w[0] for w in widget_inputs(cls)}
        controls = {w[0]: _control_values(*w) for w in widget_inputs(cls)}
        values, last = [], None
        for wname, sent in saved_layout(spec["class_type"], cls):
            if not sent:
                values.append("image" if wname == "upload" else controls[last][0])
                continue
            if isinstance(spec["inputs"].get(wname), list):
                raise ValueError(f"{name}: widget {wname} of node {nid} is linked; not supported here")
            values.append(spec["inputs"][wname])
            last = wname
        req = cls.INPUT_TYPES()
        sockets = []
        for section in ("required", "optional"):
            for iname, s in (req.get(section) or {}).items():
                if iname in widget_names:
                    continue
                value = spec["inputs"].get(iname)
                if value is None:
                    continue
                src, slot = value
                link_id = len(links) + 1
                src_type = classes[graph[src]["class_type"]].RETURN_TYPES[slot]
                links.append([link_id, int(src), slot, int(nid), len(sockets), src_type])
                out_links.setdefault((src, slot), []).append(link_id)
                sockets.append({"name": iname, "type": s[0], "link": link_id})
        entry = {"id": int(nid), "type": spec["class_type"], "pos": pos[nid], "size": sizes[nid],
                 "flags": {}, "order": k, "mode": 0, "inputs": sockets, "outputs": [],
                 "properties": {"Node name for S&R": spec["class_type"]}, "widgets_values": values}
        if spec.get("title"):
            entry["title"] = spec["title"]
        nodes.append(entry)
    for entry in nodes:
        cls = classes[entry["type"]]
        names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
        entry["outputs"] = [{"name": n, "type": t, "links": out_links.get((str(entry["id"]), i)) or [],
                             "slot_index": i} for i, (n, t) in enumerate(zip(names, cls.RETURN_TYPES))]
    nodes.append({"id": note_id, "type": "Note", "pos": [40, 60], "size": NOTE_SIZE, "flags": {},
                  "order": len(order), "mode": 0, "inputs": [], "outputs": [], "properties": {},
                  "widgets_values": [NOTES[name]], "title": "About this template"})
    nodes.sort(key=lambda e: e["id"])
    return {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"gan-local-edit/{name}")), "revision": 0,
            "last_node_id": note_id, "last_link_id": len(links), "nodes": nodes,
            "links": links, "groups": [], "config": {}, "extra": {"ds": {"scale": 1.0, "offset": [0, 0]}},
            "version": 0.4}


def api_file(graph, titles):
    # The editor writes widget values first, then linked inputs (in slot order).
    def ordered(inputs):
        return {**{k: v for k, v in inputs.items() if not isinstance(v, list)},
                **{k: v for k, v in inputs.items() if isinstance(v, list)}}

    return {nid: {"inputs": ordered(spec["inputs"]), "class_type": spec["class_type"],
                  "_meta": {"title": spec.get("title") or titles.get(spec["class_type"], spec["class_type"])}}
            for nid, spec in graph.items()}


def main():
    classes, titles = node_registry(pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS)
    missing = sorted(set(WORKFLOWS) ^ set(NOTES))
    if missing:
        raise SystemExit(f"every workflow needs exactly one note in NOTES: {missing}")
    for name, graph in WORKFLOWS.items():
        for folder, data in (("workflows", api_file(graph, titles)),
                             ("example_workflows", api_to_ui(name, graph, classes, titles))):
            path = os.path.join(ROOT, folder, f"{name}.json")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
            print("wrote", os.path.relpath(path, ROOT))


if __name__ == "__main__":
    main()
