"""FIR resampling used by StyleGAN-family generators, in plain PyTorch.

StyleGAN2 smooths every 2x up-sampling with a small low-pass FIR filter ([1,3,3,1] by
default). The reference implementation uses a custom CUDA op (``upfirdn2d``); here the
same arithmetic is expressed with ordinary (transposed) grouped convolutions so it runs
on any device and stays differentiable.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def make_filter(taps, normalize: bool = True) -> torch.Tensor:
    """Build the 2-D filter a checkpoint means by ``taps`` (1-D taps -> outer product)."""
    f = torch.as_tensor(taps, dtype=torch.float32)
    if f.ndim == 1:
        f = f[:, None] * f[None, :]
    if f.ndim != 2:
        raise ValueError(f"a resampling filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    if normalize:
        f = f / f.sum()
    return f


def _depthwise(x: torch.Tensor, weight: torch.Tensor, transpose: bool, stride, padding):
    """Run one single-channel filter over every channel as a grouped convolution.

    (Folding channels into the batch instead is 10-50x slower on CPU, backward especially.)
    """
    c = x.shape[1]
    weight = weight.to(dtype=x.dtype, device=x.device)[None, None].expand(c, 1, *weight.shape)
    if transpose:
        return F.conv_transpose2d(x, weight, stride=stride, padding=padding, groups=c)
    return F.conv2d(x, weight, stride=stride, padding=padding, groups=c)


def upfirdn2d_reference(x, f2d, up: int = 1, down: int = 1, pad=(0, 0, 0, 0), gain: float = 1.0):
    """Literal up-sample (zero insertion) -> pad/crop -> FIR (true convolution) -> decimate.

    Slow but obviously right; the fast paths below are tested against it.
    ``pad`` is (left, right, top, bottom) as in the reference op.
    """
    b, c, h, w = x.shape
    px0, px1, py0, py1 = pad
    if up > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    kernel = (f2d * gain).flip([0, 1])
    x = _depthwise(x, kernel, transpose=False, stride=1, padding=0)
    return x[:, :, ::down, ::down]


class FIRFilter:
    """A fixed resampling filter with fast up-sampling and blurring paths.

    ``upsample2x`` equals the reference ``upsample2d`` (zero insertion, pad so the output is
    exactly 2H x 2W, gain 4); ``blur`` equals ``upfirdn2d`` with symmetric padding ``pad``.
    """

    def __init__(self, f2d: torch.Tensor):
        self.f2d = f2d.detach().float().cpu()
        self.taps = self.f2d.shape[0]
        self._cache: dict = {}

    def _get(self, key, make, like: torch.Tensor):
        k = (key, like.device, like.dtype)
        t = self._cache.get(k)
        if t is None:
            with torch.inference_mode(False):  # a cached constant must be usable by autograd later
                t = make().to(device=like.device, dtype=like.dtype)
            self._cache[k] = t
        return t

    def upsample2x(self, x: torch.Tensor, gain: float = 4.0) -> torch.Tensor:
        """2x up-sampling; output is exactly [.., 2H, 2W] (the reference's ``upsample2d``)."""
        k = self.taps
        if k % 2:
            pad = ((k + 1) // 2, (k - 2) // 2) * 2
            return upfirdn2d_reference(x, self.f2d, up=2, pad=pad, gain=gain)
        # Zero insertion + FIR == transposed conv with the unflipped filter; padding
        # (k - 2) / 2 crops it to the reference's 2H output.
        f = self._get(("up", gain), lambda: self.f2d * gain, x)
        return _depthwise(x, f, transpose=True, stride=2, padding=(k - 2) // 2)

    def blur(self, x: torch.Tensor, pad: int, gain: float = 1.0) -> torch.Tensor:
        """FIR filter with ``pad`` zeros on every side (no resampling)."""
        f = self._get(("blur", gain), lambda: (self.f2d * gain).flip([0, 1]), x)
        return _depthwise(x, f, transpose=False, stride=1, padding=pad)
