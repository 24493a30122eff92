"""Write the input images of the shipped workflows into workflows/input/.

- gle_face_a.png, gle_face_b.png: two faces of the real face DCGAN (`gan-face-generate`, teacher of
  the embedded model; out of the embedded model's distribution), enlarged to 96x80 so the
  workflows also exercise the centre crop and resize of Invert Image;
- gle_paste_reference_mask.png: white on black, the mouth of the `paste` workflow's reference
  face, taken from the shipped catalog's mouth cluster;
- gle_stylemap_mouth_mask.png: white on black, where the mouth usually is in these aligned faces:
  the shipped catalog's mouth masks of 64 faces64 samples, averaged and thresholded at 0.25
  (the `stylemap_blend` workflow's mask for photos, which have no catalog of their own).
- gle_ganpaint_mouth_mask.png: white on black at gle_face_a.png's size (96x80), an ellipse over
  the mouth of that photo (coordinates read off the picture: MOUTH_ELLIPSE) for the
  `ganpaint_photo` workflow (``--ganpaint-mask-only`` writes just this file).

    pip install --no-deps gan-face-generate==1.1.1
    python scripts/make_workflow_inputs.py
"""
from __future__ import annotations

import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _pack import ROOT, load_pack  # noqa: E402
from face_teacher import FaceTeacher  # noqa: E402
from make_workflows import REFERENCE_SEED  # noqa: E402

load_pack()
from gan_local_edit.core.embedded import load_embedded_catalog, load_embedded_generator  # noqa: E402
from gan_local_edit.core.imaging import to_uint8  # noqa: E402
from gan_local_edit.core.ops.catalog import catalog_mask  # noqa: E402
from gan_local_edit.core.ops.generate import sample_latents  # noqa: E402


MOUTH_ELLIPSE = (58, 48, 6, 13)     # centre row, centre column, half height, half width (read off the photo)


def ganpaint_mouth_mask(out: str) -> None:
    w, h = Image.open(os.path.join(out, "gle_face_a.png")).size
    cy, cx, ry, rx = MOUTH_ELLIPSE
    yy, xx = np.mgrid[0:h, 0:w]
    m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    Image.fromarray((m * 255).astype(np.uint8)).convert("RGB").save(os.path.join(out, "gle_ganpaint_mouth_mask.png"))


def main():
    out = os.path.join(ROOT, "workflows", "input")
    os.makedirs(out, exist_ok=True)
    if "--ganpaint-mask-only" in sys.argv[1:]:
        ganpaint_mouth_mask(out)
        print("wrote gle_ganpaint_mouth_mask.png")
        return
    teacher = FaceTeacher()
    faces = teacher(torch.randn(2, teacher.z_dim, generator=torch.Generator().manual_seed(2026)))
    faces = F.interpolate(faces, size=(80, 96), mode="bicubic", align_corners=False).clamp(-1, 1)
    for name, img in zip(("gle_face_a.png", "gle_face_b.png"), to_uint8(faces)):
        Image.fromarray(img).save(os.path.join(out, name))
    g = load_embedded_generator(device="cpu")
    cat = load_embedded_catalog(g)
    mask = catalog_mask(g, cat, sample_latents(g, REFERENCE_SEED, 1, 0.7), "mouth")[0]
    Image.fromarray((mask.numpy() * 255).astype(np.uint8)).convert("RGB").save(
        os.path.join(out, "gle_paste_reference_mask.png"))
    write_typical_part_mask(g, cat, "mouth", os.path.join(out, "gle_stylemap_mouth_mask.png"))
    ganpaint_mouth_mask(out)
    print("wrote", sorted(os.listdir(out)))


def write_typical_part_mask(g, cat, label: str, path: str, samples: int = 64, threshold: float = 0.25):
    """Mean catalog mask of ``label`` over seeded samples, thresholded: the part's usual place."""
    masks = catalog_mask(g, cat, sample_latents(g, 0, samples, 0.7), label).float().mean(0)
    Image.fromarray(((masks > threshold).numpy() * 255).astype(np.uint8)).convert("RGB").save(path)


if __name__ == "__main__":
    main()
