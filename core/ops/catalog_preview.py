"""Colour-coded cluster maps over sample images (the paper's Fig. 2), numbered for labelling."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from ..imaging import to_uint8

PALETTE = np.array([
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180),
    (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
    (170, 110, 40), (255, 250, 200), (128, 0, 0), (170, 255, 195), (128, 128, 0), (255, 215, 180),
    (0, 0, 128), (128, 128, 128)], dtype=np.uint8)


def colour_of(k: int) -> tuple:
    return tuple(int(v) for v in PALETTE[k % len(PALETTE)])


def overlay_clusters(images: torch.Tensor, maps: torch.Tensor, opacity: float = 0.5, numbers: bool = True,
                     scale: int = 1) -> torch.Tensor:
    """images [B,3,H,W] in [-1,1], maps [B,h,w] cluster ids -> [B,3,H*scale,W*scale] in [-1,1].

    Each cluster number is written at the middle of its largest presence, so a person can
    read off which number is 'eyes' and label it.
    """
    b, _, h, w = images.shape
    size = (h * scale, w * scale)
    base = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False) if scale != 1 else images
    up = F.interpolate(maps[:, None].float(), size=size, mode="nearest")[:, 0].long().cpu().numpy()
    pics = to_uint8(base).astype(np.float32)
    out = []
    for i in range(b):
        col = PALETTE[up[i] % len(PALETTE)].astype(np.float32)
        mixed = (1 - opacity) * pics[i] + opacity * col
        im = Image.fromarray(mixed.clip(0, 255).astype(np.uint8))
        if numbers:
            draw = ImageDraw.Draw(im)
            for k in np.unique(up[i]):
                ys, xs = np.nonzero(up[i] == k)
                if len(ys) < max(4, up[i].size // 400):
                    continue
                j = np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2)
                y, x = int(ys[j]), int(xs[j])
                draw.text((x - 3, y - 5), str(int(k)), fill=(0, 0, 0))
                draw.text((x - 4, y - 6), str(int(k)), fill=(255, 255, 255))
        out.append(torch.from_numpy(np.asarray(im, dtype=np.float32) / 127.5 - 1).permute(2, 0, 1))
    return torch.stack(out)
