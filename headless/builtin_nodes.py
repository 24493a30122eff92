"""Stand-ins for the ComfyUI built-in nodes that the shipped workflows use.

The in-process executor runs workflows where ComfyUI is not installed (CI, the CLI). These
classes follow the built-ins' contracts as ComfyUI documents them: the same input names,
types and outputs, SaveImage's ``<prefix>_<counter:05>_.png`` naming with the prompt in
the PNG text chunks, LoadImage's MASK = 1 - alpha (zeros 64x64 when there is no alpha).
"""
from __future__ import annotations

import json
import os
import re

import numpy as np
import torch
from PIL import Image, ImageOps
from PIL.PngImagePlugin import PngInfo

from .example_inputs import example_names, find_input

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


class Dirs:
    """Input/output folders of one headless run (ComfyUI's input/ and output/)."""
    input_dir = "input"
    output_dir = "output"


def _counter(folder: str, filename: str) -> int:
    pattern = re.compile(re.escape(filename) + r"_(\d+)_", re.IGNORECASE)
    best = 0
    if os.path.isdir(folder):
        for f in os.listdir(folder):
            m = pattern.match(f)
            if m:
                best = max(best, int(m.group(1)))
    return best + 1


class SaveImage:
    CATEGORY = "image"
    RETURN_TYPES = ()
    FUNCTION = "save_images"
    OUTPUT_NODE = True
    kind = "output"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})},
                "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def folder(self) -> str:
        return Dirs.output_dir

    def save_images(self, images, filename_prefix="ComfyUI", prompt=None, extra_pnginfo=None):
        subfolder, filename = os.path.split(os.path.normpath(filename_prefix))
        if subfolder.startswith("..") or os.path.isabs(subfolder):
            raise ValueError("filename_prefix must stay inside the output folder")
        folder = os.path.join(self.folder(), subfolder)
        os.makedirs(folder, exist_ok=True)
        counter = _counter(folder, filename)
        results = []
        for i, image in enumerate(images):
            arr = np.clip(255.0 * image.cpu().numpy(), 0, 255).astype(np.uint8)
            meta = PngInfo()
            if prompt is not None:
                meta.add_text("prompt", json.dumps(prompt))
            for k, v in (extra_pnginfo or {}).items():
                meta.add_text(k, json.dumps(v))
            name = f"{filename.replace('%batch_num%', str(i))}_{counter:05}_.png"
            Image.fromarray(arr).save(os.path.join(folder, name), pnginfo=meta, compress_level=4)
            results.append({"filename": name, "subfolder": subfolder, "type": self.kind})
            counter += 1
        return {"ui": {"images": results}}


class PreviewImage(SaveImage):
    kind = "temp"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"images": ("IMAGE",)}, "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}}

    def folder(self) -> str:
        return os.path.join(Dirs.output_dir, "preview")

    def save_images(self, images, prompt=None, extra_pnginfo=None):
        return super().save_images(images, "ComfyUI_temp", prompt, extra_pnginfo)


def _input_files():
    """The input folder's images plus the pack's example inputs (as ComfyUI, where the pack copies them)."""
    own = os.listdir(Dirs.input_dir) if os.path.isdir(Dirs.input_dir) else []
    return sorted({f for f in own if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS} | set(example_names()))


def _open_input(name: str) -> Image.Image:
    path = find_input(name, Dirs.input_dir)
    if path is None:
        raise FileNotFoundError(f"Invalid image file: {name} (not in {Dirs.input_dir})")
    return ImageOps.exif_transpose(Image.open(path))


class LoadImage:
    CATEGORY = "image"
    RETURN_TYPES = ("IMAGE", "MASK")
    FUNCTION = "load_image"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True})}}

    def load_image(self, image):
        img = _open_input(image)
        rgb = torch.from_numpy(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)[None]
        if "A" in img.getbands():
            alpha = np.asarray(img.getchannel("A"), dtype=np.float32) / 255.0
            mask = 1.0 - torch.from_numpy(alpha)
        else:
            mask = torch.zeros((64, 64), dtype=torch.float32)
        return (rgb, mask.unsqueeze(0))


class LoadImageMask:
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "load_image"
    CHANNELS = ["alpha", "red", "green", "blue"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": (_input_files(), {"image_upload": True}), "channel": (cls.CHANNELS,)}}

    def load_image(self, image, channel):
        img = _open_input(image)
        if img.getbands() != ("R", "G", "B", "A"):
            img = img.convert("RGBA") if "A" in img.getbands() or img.mode == "P" else img.convert("RGB")
        bands = img.getbands()
        c = channel[0].upper()
        if c not in bands:
            return (torch.zeros((1, 64, 64), dtype=torch.float32),)
        m = torch.from_numpy(np.asarray(img.getchannel(c), dtype=np.float32) / 255.0)
        if c == "A":
            m = 1.0 - m
        return (m.unsqueeze(0),)


class MaskToImage:
    CATEGORY = "mask"
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "mask_to_image"

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"mask": ("MASK",)}}

    def mask_to_image(self, mask):
        m = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).movedim(1, -1)
        return (m.expand(-1, -1, -1, 3).clone(),)


class ImageToMask:
    CATEGORY = "mask"
    RETURN_TYPES = ("MASK",)
    FUNCTION = "image_to_mask"
    CHANNELS = ["red", "green", "blue", "alpha"]

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"image": ("IMAGE",), "channel": (cls.CHANNELS,)}}

    def image_to_mask(self, image, channel):
        return (image[:, :, :, self.CHANNELS.index(channel)].clone(),)


BUILTIN_NODES = {
    "SaveImage": (SaveImage, "Save Image"),
    "PreviewImage": (PreviewImage, "Preview Image"),
    "LoadImage": (LoadImage, "Load Image"),
    "LoadImageMask": (LoadImageMask, "Load Image (as Mask)"),
    "MaskToImage": (MaskToImage, "Convert Mask to Image"),
    "ImageToMask": (ImageToMask, "Convert Image to Mask"),
}
