"""Progressive GAN (Karras et al. 2018) as GANPaint / GAN Dissection ship it (``layer1..layerN`` +
``output_RxR``), behind the same partial-synthesis protocol as StyleGAN2.

A ProGAN has no mapping network: z is the only code. So that every node (Sample Latents,
Generate Image, the feature-map operations) works unchanged, z is exposed as a one-row "W+"
code (``num_ws`` 1, ``w_dim`` = ``z_dim``, mapping = z scaled by the truncation psi around 0)
and the synthesis is a flat list of named steps that can be paused, edited and resumed.

Each layer: PixelNorm -> [nearest x2] -> conv without bias -> x * gain/sqrt(fan_in) + b ->
leaky ReLU 0.2; the output layer is PixelNorm, 1x1 conv, x / sqrt(in) + b, with no tanh
and no clamp (the released models are used that way).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import Generator, LayerInfo
from .stylegan2 import SynthesisState


@dataclass
class ProGANConfig:
    """``channels[i]`` is the width of layer i+1's output; layers come in pairs per resolution."""
    z_dim: int
    channels: list
    img_channels: int = 3

    def __post_init__(self):
        self.channels = [int(c) for c in self.channels]
        if len(self.channels) < 2 or len(self.channels) % 2:
            raise ValueError(f"a Progressive GAN has an even number (>= 2) of layers, got {len(self.channels)}")

    @property
    def resolution(self) -> int:
        return 4 * 2 ** (len(self.channels) // 2 - 1)

    def to_json_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, d: dict) -> "ProGANConfig":
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown ProGAN config keys: {sorted(unknown)}")
        return cls(**d)


def pixel_norm(x: torch.Tensor) -> torch.Tensor:
    return x * torch.rsqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


class WScale(nn.Module):
    """Holds the bias as ``b`` (the checkpoint's ``wscale.b``); the scale is a constant."""

    def __init__(self, channels: int):
        super().__init__()
        self.b = nn.Parameter(torch.zeros(channels))


class ProGANLayer(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, kernel: int, padding: int, up: bool, gain: float,
                 activation: bool):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, 1, padding, bias=False)
        self.wscale = WScale(out_ch)
        self.up, self.activation = up, activation
        self.scale = gain / kernel / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(x)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.conv(x) * self.scale + self.wscale.b.view(1, -1, 1, 1)
        return F.leaky_relu(x, 0.2) if self.activation else x


class ProGANGenerator(Generator):
    """``generator(z)`` -> image; taps and edits by layer name (``layer4`` is GANPaint's 8x8 layer)."""

    architecture = "progan"
    capabilities = frozenset({"z", "w", "features"})

    def __init__(self, cfg: ProGANConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim = self.w_dim = cfg.z_dim
        self.num_ws, self.c_dim = 1, 0
        self.resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self._rows, prev = [], cfg.z_dim
        for i, ch in enumerate(cfg.channels):
            res, first, up = 4 * 2 ** (i // 2), i == 0, i >= 2 and i % 2 == 0
            layer = ProGANLayer(prev, ch, 4 if first else 3, 3 if first else 1, up, math.sqrt(2), True)
            self.add_module(f"layer{i + 1}", layer)
            self._rows.append(LayerInfo(f"layer{i + 1}", "conv", res, prev, ch))
            prev = ch
        self.output_name = f"output_{self.resolution}x{self.resolution}"
        self.add_module(self.output_name, ProGANLayer(prev, cfg.img_channels, 1, 0, False, 1.0, False))
        self._rows.append(LayerInfo(self.output_name, "torgb", self.resolution, prev, cfg.img_channels))
        self._names = [r.name for r in self._rows]
        self.register_buffer("_w_avg", torch.zeros(cfg.z_dim), persistent=False)

    # --- protocol ----------------------------------------------------------------------
    def config(self) -> dict:
        return self.cfg.to_json_dict()

    def layers(self) -> list[LayerInfo]:
        return list(self._rows)

    def styled_layers(self) -> list[LayerInfo]:
        return []

    def step_names(self) -> list[str]:
        return list(self._names)

    def noise_layers(self) -> dict[str, int]:
        return {}

    @property
    def w_avg(self) -> torch.Tensor:
        return self._w_avg

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        """z [B, z_dim] -> [B, 1, z_dim]; truncation shrinks z towards 0 (the mean of its prior)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got {list(z.shape)}")
        return (z * truncation_psi).unsqueeze(1)

    def styles(self, ws) -> list[torch.Tensor]:
        if ws.ndim != 3 or ws.shape[1] != 1 or ws.shape[2] != self.z_dim:
            raise ValueError(f"ws must be [B, 1, {self.z_dim}], got {list(ws.shape)}")
        return [ws[:, 0]]

    def synthesis(self, ws, noise_mode="const", taps=None, generator=None, return_image=True, edits=None,
                  noise=None):
        return self.synthesis_from_styles(self.styles(ws), taps=taps, return_image=return_image, edits=edits)

    def synthesis_from_styles(self, styles, noise_mode="const", taps=None, generator=None, return_image=True,
                              edits=None, resume: SynthesisState | None = None, noise=None):
        want = self._check_taps(taps)
        stop = None if return_image else want
        state, feats = self._run(styles, want, edits, resume, until=None, stop_when=stop)
        if state is None:
            return None, feats
        return state.img if taps is None else (state.img, feats)

    def synthesis_partial(self, styles, until: str, noise_mode="const", taps=None, generator=None, edits=None,
                          resume: SynthesisState | None = None, noise=None, track_image: bool = True):
        want = self._check_taps(taps)
        if until not in self._names:
            raise KeyError(f"unknown layer {until!r}; see layers() for names")
        return self._run(styles, want, edits, resume, until=until, stop_when=None)

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        z = z.reshape(z.shape[0], -1)
        return self.synthesis(self.mapping(z, truncation_psi=truncation_psi))

    # --- internals -----------------------------------------------------------------------
    def _check_taps(self, taps):
        want = set(taps or ())
        unknown = want - set(self._names)
        if unknown:
            raise KeyError(f"unknown tap(s) {sorted(unknown)}; see layers() for names")
        return want

    def _run(self, styles, want, edits, resume, until, stop_when):
        if len(styles) != 1 or styles[0].ndim != 2 or styles[0].shape[1] != self.z_dim:
            raise ValueError(f"expected one code [B, {self.z_dim}]")
        edits = edits or {}
        unknown = set(edits) - set(self._names)
        if unknown:
            raise KeyError(f"cannot edit unknown layer(s) {sorted(unknown)}")
        if resume is None:
            st, started = SynthesisState(after=""), True
            x = styles[0].reshape(styles[0].shape[0], self.z_dim, 1, 1)
        else:
            if resume.after not in self._names:
                raise KeyError(f"cannot resume after unknown layer {resume.after!r}")
            st, started, x = SynthesisState(resume.after), False, resume.x
        feats = {}
        for name in self._names:
            if not started:
                started = name == st.after
                continue
            x = self._modules[name](x)
            if name in edits:
                x = edits[name](x)
            st.after = name
            if name == self.output_name:
                st.img = x
            else:
                st.x = x
            if name in want:
                feats[name] = x
            if name == until:
                return st, feats
            if stop_when is not None and len(feats) == len(stop_when):
                return None, feats
        return st, feats
