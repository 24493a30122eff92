"""The Generator protocol every architecture is adapted to.

Operations (inversion, catalogs, matching, pasting, ...) are written once against this
small interface, so they work on every model that has the capability they need.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, asdict

import torch
from torch import nn

from ..errors import IncompatibleInputError


@dataclass(frozen=True)
class LayerInfo:
    """One row of a generator's layer table.

    ``name`` is also the tap name for the layer's output feature map. ``w_index`` is the
    W+ row that feeds the layer (or -1), ``style_index`` its position in ``styles(ws)``
    (or -1 for unstyled layers).
    """
    name: str
    kind: str
    resolution: int
    in_channels: int
    out_channels: int
    w_index: int = -1
    style_index: int = -1
    style_dim: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class Generator(nn.Module):
    """Base class: concrete generators fill in the architecture-specific parts."""

    architecture: str = "abstract"
    capabilities: frozenset = frozenset()

    def __init__(self):
        super().__init__()
        self.name = self.architecture
        self._fingerprint = None

    # --- sizes -----------------------------------------------------------------
    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    img_channels: int

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    # --- protocol ----------------------------------------------------------------
    def layers(self) -> list[LayerInfo]:
        raise NotImplementedError

    def config(self) -> dict:
        """JSON-serialisable construction arguments (saved with the weights)."""
        raise NotImplementedError

    def layer(self, name: str) -> LayerInfo:
        for info in self.layers():
            if info.name == name:
                return info
        known = ", ".join(i.name for i in self.layers())
        raise KeyError(f"{self.name} has no layer named {name!r}; layers: {known}")

    def fingerprint(self) -> str:
        """A short hash of config and weights: tells whether two generators are the same model.

        Cached; call ``invalidate_fingerprint()`` after changing weights in place.
        """
        if self._fingerprint is None:
            h = hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode())
            for key, t in sorted(self.state_dict().items()):
                h.update(key.encode())
                h.update(t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def invalidate_fingerprint(self) -> None:
        self._fingerprint = None

    def describe(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (f"{self.name}: {self.architecture} {self.resolution}x{self.resolution}, "
                f"z_dim {self.z_dim}, w_dim {self.w_dim}, num_ws {self.num_ws}, "
                f"{n / 1e6:.2f} M parameters")


def require_w_space(generator, what: str) -> None:
    """One line instead of a shape error deep inside: ``what`` is written for W/W+ codes (StyleGAN2)."""
    if "w+" not in generator.capabilities:
        hint = "; use Encode Image and Stylemap Blend with it" if generator.architecture == "stylemapgan" else ""
        raise IncompatibleInputError(f"{what} needs a StyleGAN2 (W/W+ codes), but '{generator.name}' is a "
                                     f"{generator.architecture}{hint}")
