"""Image comparisons: locality of an edit (CIELAB error inside/outside a region), PSNR, heat maps."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_lab

from .imaging import to_unit_range


def lab_squared_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-pixel squared CIELAB distance (Delta E76 squared) of two generator images: [B, H, W]."""
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {list(a.shape)} vs {list(b.shape)}")
    la, lb = rgb_to_lab(to_unit_range(a)), rgb_to_lab(to_unit_range(b))
    return (la - lb).square().sum(dim=1)


def in_out_mse(err: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean error inside (mask > 0.5) and outside the region, per image: ([B], [B]).

    An image whose region (or its complement) is empty gets NaN for that side.
    """
    m = (mask > 0.5).float()
    if m.shape != err.shape:
        raise ValueError(f"mask {list(m.shape)} does not match the images {list(err.shape)}")
    inside = (err * m).sum(dim=(1, 2)) / m.sum(dim=(1, 2))
    outside = (err * (1 - m)).sum(dim=(1, 2)) / (1 - m).sum(dim=(1, 2))
    return inside, outside


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [-1, 1] (data range 2), per image."""
    return psnr_from_mse((a.float() - b.float()).square().flatten(1).mean(1))


def psnr_from_mse(mse) -> torch.Tensor:
    """PSNR in dB of a mean squared error of images in [-1, 1] (data range 2)."""
    return 10 * torch.log10(4.0 / torch.as_tensor(mse).clamp_min(1e-12))


def gaussian_window(window: int, sigma: float = 1.5, dtype=torch.float32, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian of ``window`` taps centred on the middle one."""
    x = torch.arange(window, dtype=dtype, device=device) - (window - 1) / 2
    k = torch.exp(-x.square() / (2 * sigma * sigma))
    return k / k.sum()


def ssim_map(x: torch.Tensor, y: torch.Tensor, window: int = 7, c1: float = 1e-4, c2: float = 9e-4) -> torch.Tensor:
    """Per-pixel SSIM of images in [0, 1] [B, C, H, W] (Gaussian window, sigma 1.5, reflected borders).

    The five local moments (means of x, y, x^2, y^2, xy) are filtered as one stacked tensor by
    one separable depthwise pass: inversion evaluates this every step at several scales, and
    five separate filterings cost more than the rest of its loss.
    """
    c = x.shape[1]
    k = gaussian_window(window, dtype=x.dtype, device=x.device)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    pad = window // 2
    stack = F.pad(stack, (pad, pad, pad, pad), mode="reflect")
    ch = stack.shape[1]
    stack = F.conv2d(stack, k.view(1, 1, 1, -1).expand(ch, 1, 1, window), groups=ch)
    stack = F.conv2d(stack, k.view(1, 1, -1, 1).expand(ch, 1, window, 1), groups=ch)
    mx, my, mxx, myy, mxy = stack.split(c, dim=1)
    mx2, my2, mxmy = mx * mx, my * my, mx * my
    num = (2 * mxmy + c1) * (2 * (mxy - mxmy) + c2)
    den = (mx2 + my2 + c1) * ((mxx - mx2) + (myy - my2) + c2)
    return num / (den + 1e-12)


def ssim(a: torch.Tensor, b: torch.Tensor, per_image: bool = False, multiscale: bool = False,
         window: int = 7) -> torch.Tensor:
    """SSIM of images in [-1, 1] (Gaussian window ``window``); ``multiscale`` averages it over
    2x down-sampled copies while the side stays >= 16 px. Differentiable."""
    x, y = (a.float() + 1) / 2, (b.float() + 1) / 2
    values = []
    while True:
        m = ssim_map(x, y, window)
        values.append(m.flatten(1).mean(1))
        if not multiscale or min(x.shape[-2:]) < 32:
            break
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    out = torch.stack(values).mean(0)
    return out if per_image else out.mean()


def heatmap(err: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """[B, H, W] non-negative error -> colour heat map [B, 3, H, W] in [-1, 1] (black-red-yellow-white).

    ``scale`` fixes the value shown as white (default: each map's own maximum).
    """
    e = err.float()
    top = e.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1) if scale is None else torch.tensor(float(scale))
    t = (e / top).clamp(0, 1)
    r, g, b = (t * 3).clamp(0, 1), (t * 3 - 1).clamp(0, 1), (t * 3 - 2).clamp(0, 1)
    return torch.stack([r, g, b], dim=1) * 2 - 1
