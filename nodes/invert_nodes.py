"""Nodes for projecting real images into the latent space and pivotal tuning."""
from __future__ import annotations

from ..core.formats.cache import load_cached
from ..core.ops.invert import InvertSettings, invert
from ..core.ops.perceptual import load_vgg16
from ..core.ops.pivotal_tuning import TuneSettings, pivotal_tune
from . import comfy_bridge as bridge

CATEGORY = "GAN Local Edit/Invert"
GEN = ("GLE_GENERATOR", {"tooltip": "From Load GAN Generator."})


class InvertImage:
    DESCRIPTION = ("Project real images into the generator's latent space (W or W+), by optimisation with "
                   "offline losses (L1 + multi-scale SSIM) and fitted noise maps. The image is centre-cropped "
                   "and resized to the model. Several starts per image; the best is kept, and optionally "
                   "polished by Levenberg-Marquardt steps.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_LATENT", "IMAGE", "STRING")
    RETURN_NAMES = ("latents", "reconstruction", "report")
    OUTPUT_TOOLTIPS = ("Fitted latents (with their noise maps), usable by every editing node.",
                       "What the latents generate.", "PSNR / SSIM per image and the crop applied.")
    FUNCTION = "invert"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "image": ("IMAGE", {"tooltip": "RGB image(s), any size (centre-cropped to a square)."}),
            "space": (["W+", "W"], {"default": "W+", "tooltip": "W+ (one w per layer) fits better; W edits "
                                                               "more predictably."}),
            "steps": ("INT", {"default": 300, "min": 1, "max": 5000, "tooltip": "Optimisation steps."}),
            "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFF, "control_after_generate": "fixed",
                             "tooltip": "Seed of the extra starts and the w noise."}),
            "starts": ("INT", {"default": 4, "min": 1, "max": 16, "tooltip": "Starts per image, optimised "
                                                                             "as one batch."}),
            "optimize_noise": ("BOOLEAN", {"default": True, "tooltip": "Also fit the per-pixel noise maps "
                                                                      "(sharper reconstructions)."}),
        }, "optional": {
            "vgg16": (["none"] + bridge.list_model_files(bridge.PERCEPTUAL_FOLDER),
                      {"default": "none", "tooltip": "Optional VGG16 weights (torchvision layout) in "
                                                     "models/gan_perceptual: adds a feature loss. Never needed."}),
            "refine_steps": ("INT", {"default": 0, "min": 0, "max": 50,
                                     "tooltip": "Levenberg-Marquardt polish of the best start on the pixel error "
                                                "(0: off). Recovers the exact latent of an image the model made; "
                                                "each step costs 2 x (latent size) forwards: cheap in W, 10-18x "
                                                "more in W+."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def invert(self, generator, image, space, steps, seed, starts, optimize_noise, vgg16="none", refine_steps=0,
               unique_id=None):
        settings = InvertSettings(space=space.lower(), steps=steps, seed=seed, starts=starts,
                                  optimize_noise=optimize_noise, refine_steps=refine_steps)
        net = None if vgg16 in (None, "", "none") else \
            load_cached(load_vgg16, bridge.model_file_path(vgg16, bridge.PERCEPTUAL_FOLDER), generator.device)
        res = invert(generator, bridge.image_from_comfy(image), settings, on_step=bridge.Progress(steps, unique_id),
                     feature_net=net)
        return (res.latents, bridge.image_to_comfy(res.reconstruction), res.report())


class PivotalTune:
    DESCRIPTION = ("Fine-tune a COPY of the generator around inverted latents so they reproduce the image "
                   "almost exactly (pivotal tuning). The original generator is untouched; edit with the copy.")
    CATEGORY = CATEGORY
    RETURN_TYPES = ("GLE_GENERATOR", "STRING")
    RETURN_NAMES = ("generator", "report")
    OUTPUT_TOOLTIPS = ("The tuned copy (catalogs of the original still apply).", "PSNR before and after.")
    FUNCTION = "tune"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {
            "generator": GEN,
            "image": ("IMAGE", {"tooltip": "The image(s) that were inverted."}),
            "latents": ("GLE_LATENT", {"tooltip": "From Invert Image (one per image)."}),
            "steps": ("INT", {"default": 200, "min": 1, "max": 5000, "tooltip": "Fine-tuning steps."}),
            "lr": ("FLOAT", {"default": 3e-4, "min": 1e-6, "max": 1e-2, "step": 1e-5,
                             "tooltip": "Adam learning rate of the weights."}),
        }, "hidden": {"unique_id": "UNIQUE_ID"}}

    def tune(self, generator, image, latents, steps, lr, unique_id=None):
        tuned, before, after = pivotal_tune(generator, bridge.image_from_comfy(image), latents, TuneSettings(steps, lr),
                                            on_step=bridge.Progress(steps, unique_id))
        return (tuned, f"PSNR {before:.2f} dB -> {after:.2f} dB after {steps} steps of pivotal tuning")


NODES = {
    "GLEInvertImage": (InvertImage, "Invert Image"),
    "GLEPivotalTune": (PivotalTune, "Pivotal Tune"),
}
