"""Conversions between generator images ([B,C,H,W], about [-1,1]) and pictures."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def centre_square(x: torch.Tensor, resolution: int) -> torch.Tensor:
    """[B, C, H, W] centre-cropped to a square and resized to ``resolution`` (antialiased when shrinking):
    how every photo enters a model, and so how a mask painted on that photo must be brought along."""
    h, w = x.shape[-2:]
    size = min(h, w)
    top, left = (h - size) // 2, (w - size) // 2
    x = x[..., top:top + size, left:left + size]
    if size == resolution:
        return x
    return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False,
                         antialias=size > resolution)


def to_unit_range(img: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1], clamped (values outside the range are saturated, as viewers do)."""
    return ((img.detach().float() + 1) / 2).clamp(0, 1)


def from_unit_range(img: torch.Tensor) -> torch.Tensor:
    return img * 2 - 1


def to_bhwc(img: torch.Tensor) -> torch.Tensor:
    """Generator output -> [B, H, W, 3] in [0, 1] (grey images repeated to RGB)."""
    x = to_unit_range(img)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x[:, :3].permute(0, 2, 3, 1).contiguous().cpu()


def from_bhwc(img: torch.Tensor) -> torch.Tensor:
    """[B, H, W, C] in [0, 1] -> [B, C, H, W] in [-1, 1]."""
    return from_unit_range(img.permute(0, 3, 1, 2).float())


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """Generator output -> uint8 [B, H, W, 3]."""
    return (to_bhwc(img) * 255 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def image_grid(img: torch.Tensor, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile a batch into one uint8 picture, row-major."""
    arr = to_uint8(img)
    b, h, w, c = arr.shape
    cols = cols or int(math.ceil(math.sqrt(b)))
    rows = int(math.ceil(b / cols))
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), 255, np.uint8)
    for i in range(b):
        r, k = divmod(i, cols)
        grid[r * (h + pad): r * (h + pad) + h, k * (w + pad): k * (w + pad) + w] = arr[i]
    return grid


def save_image_grid(img: torch.Tensor, path: str, cols: int | None = None, pad: int = 0) -> str:
    Image.fromarray(image_grid(img, cols, pad)).save(path)
    return path


def outline(img: torch.Tensor, mask: torch.Tensor, colour=(1.0, -1.0, -1.0), width: int = 1) -> torch.Tensor:
    """Draw the boundary of ``mask`` [B or 1, H, W] on images [B, 3, H, W] (in [-1, 1])."""
    import torch.nn.functional as F
    m = (mask > 0.5).float()
    if m.ndim == 2:
        m = m[None]
    m = m[:, None]
    k = 2 * width + 1
    inner = -F.max_pool2d(-m, k, stride=1, padding=width)
    edge = (m - inner).clamp(0, 1).expand(img.shape[0], 1, -1, -1)
    col = torch.tensor(colour, dtype=img.dtype, device=img.device).view(1, 3, 1, 1)
    return img * (1 - edge) + col * edge
