"""An optional VGG16 feature loss for inversion, from a file the user supplies.

Perceptual networks cannot be downloaded here, so nothing depends on this: it is used only
when a VGG16 file is given. The file is read as data (safetensors, or torch's weights-only
loader) in torchvision's layout (``features.<i>.weight`` / ``.bias``; the classifier, if
present, is ignored). The distance is LPIPS-like without learned heads: each stage's
activations (relu1_2, relu2_2, relu3_3, relu4_3, relu5_3) are unit-normalised per position,
and the mean squared difference is summed over stages.
"""
from __future__ import annotations

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import CheckpointError
from ..formats.loader import resolve_device

# torchvision's vgg16().features: conv output channels, "M" = max-pool
LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
STAGE_ENDS = (3, 8, 15, 22, 29)           # indices of the ReLUs after relu1_2 .. relu5_3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIDE = 64                             # smaller images are up-sampled so relu5_3 keeps 4x4 positions


class VGG16Features(nn.Module):
    """VGG16's convolutional part, returning the five stage activations."""

    def __init__(self):
        super().__init__()
        layers, cin = [], 3
        for v in LAYOUT:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def stages(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Activations for images [B, 3, H, W] in [-1, 1]."""
        if min(img.shape[-2:]) < MIN_SIDE:
            img = F.interpolate(img, scale_factor=MIN_SIDE / min(img.shape[-2:]), mode="bilinear",
                                align_corners=False)
        x = ((img + 1) / 2 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in STAGE_ENDS:
                out.append(F.normalize(x, dim=1))
                if len(out) == len(STAGE_ENDS):
                    break
        return out

    def distance(self, img: torch.Tensor, target_stages: list[torch.Tensor]) -> torch.Tensor:
        """Per-sample distance [B] to precomputed target stages."""
        return sum((a - b).square().sum(1).mean(dim=(1, 2)) for a, b in zip(self.stages(img), target_stages))


def _read_tensors(path: str) -> dict:
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such VGG16 file")
    try:
        if path.lower().endswith(".safetensors"):
            from safetensors.torch import load_file
            return load_file(path)
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: cannot be read as VGG16 weights ({str(e)[:120]})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict of VGG16 weights, found {type(state).__name__}")
    return state


def load_vgg16(path: str, device=None) -> VGG16Features:
    """A VGG16 feature network from a torchvision-layout state dict (frozen, eval mode).

    ``device`` as for generators: None / "auto" = CUDA when available, else CPU.
    """
    with torch.inference_mode(False):      # hosts may call this in inference mode; the weights must
        return _build(path, device)        # be ordinary tensors so inversion can backpropagate through them


def _build(path: str, device) -> VGG16Features:
    state = _read_tensors(path)
    net = VGG16Features()
    wanted = {k: v for k, v in net.state_dict().items() if k.startswith("features.")}
    missing = [k for k in wanted if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a torchvision VGG16 state dict (missing {missing[0]} and "
                              f"{len(missing) - 1} more)")
    for k, v in wanted.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise CheckpointError(f"{path}: {k} has shape {list(state[k].shape)}, VGG16 needs {list(v.shape)}")
    net.load_state_dict({k: state[k].float() for k in wanted}, strict=False)
    return net.eval().requires_grad_(False).to(resolve_device(device))
