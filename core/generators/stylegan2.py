"""StyleGAN2 (Karras et al. 2020), written for parity with the official weights.

Parameter names and storage conventions follow the NVIDIA PyTorch release
(``mapping.fc0.weight``, ``synthesis.b16.conv0.affine.bias``, ...): weights are stored
unscaled and their equalised-learning-rate gains are applied at run time, so NVIDIA
state dicts load as they are and the other formats are converted into this layout.

The synthesis is split into two stages so StyleSpace edits are first-class:
``styles(ws)`` runs every affine layer, ``synthesis_from_styles(styles)`` runs the
convolutions. ``synthesis(ws)`` is exactly the two in sequence.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import torch
import torch.nn.functional as F
from torch import nn

from .base import Generator, LayerInfo, config_from_json
from .fir import FIRFilter, make_filter

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2
ARCHITECTURES = ("orig", "skip", "resnet")
NOISE_MODES = ("const", "random", "none")


@dataclass
class StyleGAN2Config:
    """Everything needed to rebuild a StyleGAN2 generator (saved as JSON with its weights)."""
    z_dim: int
    w_dim: int
    resolution: int
    channels: dict            # resolution -> feature channels, for 4 .. resolution
    mapping_layers: int = 8
    mapping_features: int | None = None   # hidden width; None = w_dim
    mapping_lr_mul: float = 0.01
    c_dim: int = 0
    embed_features: int | None = None     # class embedding width; None = w_dim
    img_channels: int = 3
    architecture: str = "skip"
    conv_clamp: float | None = None
    resample_filter: list = field(default_factory=lambda: [1, 3, 3, 1])
    use_noise: bool = True

    def __post_init__(self):
        self.channels = {int(k): int(v) for k, v in self.channels.items()}
        res = self.resolution
        if res < 4 or res & (res - 1):
            raise ValueError(f"resolution must be a power of two >= 4, got {res}")
        missing = [r for r in self.block_resolutions if r not in self.channels]
        if missing:
            raise ValueError(f"channel table lacks resolutions {missing}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")

    @property
    def block_resolutions(self) -> list[int]:
        return [2 ** i for i in range(2, int(math.log2(self.resolution)) + 1)]

    def to_json_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = {str(k): v for k, v in sorted(self.channels.items())}
        return d

    @classmethod
    def from_json_dict(cls, d: dict) -> "StyleGAN2Config":
        return config_from_json(cls, d, "StyleGAN2")


def bias_lrelu(x: torch.Tensor, bias: torch.Tensor | None, gain: float, clamp: float | None):
    """bias + leaky ReLU(0.2) * gain, then optional symmetric clamp (the reference's bias_act)."""
    if bias is not None:
        x = x + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
    x = F.leaky_relu(x, LRELU_SLOPE) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FullyConnected(nn.Module):
    """Equalised-learning-rate linear layer: stored weight/bias scaled at run time."""

    def __init__(self, in_features, out_features, lr_mul=1.0, bias_init=0.0, activation="linear"):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init)))
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul
        self.activation = activation

    def forward(self, x):
        w = self.weight * self.weight_gain
        b = self.bias * self.bias_gain
        if self.activation == "linear":
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_lrelu(x.matmul(w.t()), b, SQRT2, None)


def normalize_2nd_moment(x, eps=1e-8):
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z (and optional class c) -> w, with the tracked mean ``w_avg`` used for truncation."""

    def __init__(self, cfg: StyleGAN2Config, num_ws: int):
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = cfg.z_dim, cfg.c_dim, cfg.w_dim, num_ws
        hidden = cfg.mapping_features or cfg.w_dim
        embed = (cfg.embed_features or cfg.w_dim) if cfg.c_dim else 0
        if cfg.c_dim:
            self.embed = FullyConnected(cfg.c_dim, embed)
        features = [cfg.z_dim + embed] + [hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        self.num_layers = cfg.mapping_layers
        for i in range(cfg.mapping_layers):
            setattr(self, f"fc{i}", FullyConnected(features[i], features[i + 1], lr_mul=cfg.mapping_lr_mul,
                                                   activation="lrelu"))
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.to(torch.float32)))
        if self.c_dim:
            if c is None:
                raise ValueError(f"this generator is class-conditional (c_dim {self.c_dim}): pass c")
            parts.append(normalize_2nd_moment(self.embed(c.to(torch.float32))))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        x = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else int(truncation_cutoff)
            x = x.clone()
            x[:, :cut] = self.w_avg.lerp(x[:, :cut], truncation_psi)
        return x


def demod_coefficients(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1 / ||w * s|| per (sample, output channel), without building per-sample weights."""
    return (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()


def _conv(x, weight, up: bool, padding: int, fir: FIRFilter | None):
    if up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        return fir.blur(x, pad=1, gain=4.0)
    return F.conv2d(x, weight, padding=padding)


class StyledConv(nn.Module):
    """Modulated 3x3 conv (+ optional 2x up-sampling), noise, bias, leaky ReLU.

    One sample: the style, demodulation and activation gain are folded into the weight
    (one plain convolution). Several samples: the input is modulated instead, so the
    whole batch shares one convolution, and demodulation, noise and bias are applied in
    one fused multiply-add. Both are the reference arithmetic up to float rounding.
    """

    def __init__(self, in_ch, out_ch, w_dim, resolution, up, cfg: StyleGAN2Config, fir: FIRFilter):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution, self.up = in_ch, out_ch, resolution, up
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.use_noise = cfg.use_noise
        if self.use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.conv_clamp = cfg.conv_clamp
        self._fir = fir

    def _offset(self, x, noise_mode, generator, scale, noise=None):
        """(bias + noise * strength) * scale, broadcastable to the conv output.

        ``noise`` ([B or 1, 1, r, r]) overrides the mode, e.g. noise maps fitted by inversion.
        """
        off = (self.bias * scale).reshape(1, -1, 1, 1)
        if self.use_noise and noise is None and noise_mode == "const":
            noise = self.noise_const
        elif self.use_noise and noise is None and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device,
                                dtype=x.dtype, generator=generator)
        if self.use_noise and noise is not None:
            off = off + noise * (self.noise_strength * scale)
        return off

    def forward(self, x, style, noise_mode="const", gain=1.0, generator=None, noise=None):
        act_gain = SQRT2 * gain  # lrelu(v) * g == lrelu(v * g) for g > 0: fold g in early
        dcoefs = demod_coefficients(self.weight, style) * act_gain
        off = self._offset(x, noise_mode, generator, act_gain, noise)
        if x.shape[0] == 1:
            w = self.weight * style.reshape(1, -1, 1, 1) * dcoefs.reshape(-1, 1, 1, 1)
            y = _conv(x, w, self.up, 1, self._fir).add_(off)
        else:
            y = _conv(x * style.reshape(style.shape[0], -1, 1, 1), self.weight, self.up, 1, self._fir)
            y = torch.addcmul(off, y, dcoefs.reshape(dcoefs.shape[0], -1, 1, 1))
        y = F.leaky_relu_(y, LRELU_SLOPE)
        if self.conv_clamp is not None:
            y = y.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
        return y


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation: features -> image contribution.

    A per-sample 1x1 convolution is a batched matrix product, so no modulated copy of
    the (largest) feature map is ever made.
    """

    def __init__(self, in_ch, img_channels, w_dim, cfg: StyleGAN2Config):
        super().__init__()
        self.in_channels, self.out_channels = in_ch, img_channels
        self.affine = FullyConnected(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1.0 / math.sqrt(in_ch)
        self.conv_clamp = cfg.conv_clamp

    def forward(self, x, style):
        b, c, h, w = x.shape
        wm = self.weight[:, :, 0, 0].unsqueeze(0) * (style * self.weight_gain).unsqueeze(1)  # [B, out, in]
        y = torch.baddbmm(self.bias.reshape(1, -1, 1), wm, x.reshape(b, c, h * w)).reshape(b, -1, h, w)
        if self.conv_clamp is not None:
            y = y.clamp(-self.conv_clamp, self.conv_clamp)
        return y


class SkipUp(nn.Module):
    """Resnet shortcut: 1x1 conv (no bias) then FIR 2x up-sampling."""

    def __init__(self, in_ch, out_ch, fir: FIRFilter):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, 1, 1))
        self.weight_gain = 1.0 / math.sqrt(in_ch)
        self._fir = fir

    def forward(self, x, gain):
        x = F.conv2d(x, self.weight * self.weight_gain)
        return self._fir.upsample2x(x) * gain


class SynthesisBlock(nn.Module):
    def __init__(self, in_ch, out_ch, resolution, is_last, cfg: StyleGAN2Config, fir: FIRFilter):
        super().__init__()
        self.in_channels, self.out_channels, self.resolution = in_ch, out_ch, resolution
        self.architecture = cfg.architecture
        if in_ch == 0:
            self.const = nn.Parameter(torch.randn(out_ch, resolution, resolution))
        else:
            self.conv0 = StyledConv(in_ch, out_ch, cfg.w_dim, resolution, True, cfg, fir)
        self.conv1 = StyledConv(out_ch, out_ch, cfg.w_dim, resolution, False, cfg, fir)
        self.has_torgb = is_last or cfg.architecture == "skip"
        if self.has_torgb:
            self.torgb = ToRGB(out_ch, cfg.img_channels, cfg.w_dim, cfg)
        if in_ch and cfg.architecture == "resnet":
            self.skip = SkipUp(in_ch, out_ch, fir)
        self.num_conv = 1 if in_ch == 0 else 2
        self.num_torgb = int(self.has_torgb)


@dataclass
class SynthesisState:
    """Where a partial synthesis stopped: after layer ``after``, with its features ``x``,
    the RGB image accumulated so far and (resnet) the pending shortcut."""
    after: str
    x: torch.Tensor | None = None
    img: torch.Tensor | None = None
    skip: torch.Tensor | None = None
    rgb_tracked: bool = True         # False after a features-only run: no image can follow


class StyleGAN2Generator(Generator):
    """A StyleGAN2 generator of any resolution 4..1024 and any channel table."""

    architecture = "stylegan2"
    capabilities = frozenset({"z", "w", "w+", "s", "features", "noise"})

    def __init__(self, cfg: StyleGAN2Config):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.w_dim, self.c_dim = cfg.z_dim, cfg.w_dim, cfg.c_dim
        self.resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self._fir = FIRFilter(make_filter(cfg.resample_filter))
        self.synthesis_blocks = []
        synthesis = nn.Module()
        num_ws = 0
        for res in cfg.block_resolutions:
            in_ch = cfg.channels[res // 2] if res > 4 else 0
            block = SynthesisBlock(in_ch, cfg.channels[res], res, res == cfg.resolution, cfg, self._fir)
            setattr(synthesis, f"b{res}", block)
            self.synthesis_blocks.append(block)
            num_ws += block.num_conv
        num_ws += self.synthesis_blocks[-1].num_torgb
        self.num_ws = num_ws
        # State-dict names must be ``mapping.*`` / ``synthesis.*`` (the NVIDIA layout) while
        # the protocol methods are also called mapping()/synthesis(): the modules live in
        # ``_modules`` under those names and are reached through the *_net properties.
        self._modules["synthesis"] = synthesis
        self._modules["mapping"] = MappingNetwork(cfg, num_ws)
        self._layers = self._build_layer_table()
        self._steps, self._style_inputs = self._build_steps()
        self._styled = {name: getattr(block, name.split(".")[1]) for name, kind, block in self._steps
                        if kind in ("conv0", "conv1", "torgb")}
        self._step_names = [name for name, _, _ in self._steps]

    @property
    def mapping_net(self) -> MappingNetwork:
        return self._modules["mapping"]

    @property
    def synthesis_net(self) -> nn.Module:
        return self._modules["synthesis"]

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping_net.w_avg

    def config(self) -> dict:
        return self.cfg.to_json_dict()

    # --- layer table ---------------------------------------------------------------
    def _build_layer_table(self) -> list[LayerInfo]:
        rows, w_idx, s_idx = [], 0, 0
        for block in self.synthesis_blocks:
            r = block.resolution
            if block.in_channels == 0:
                rows.append(LayerInfo(f"b{r}.const", "const", r, 0, block.out_channels))
            if block.in_channels:
                rows.append(LayerInfo(f"b{r}.conv0", "conv", r, block.in_channels, block.out_channels,
                                      w_idx, s_idx, block.in_channels))
                w_idx, s_idx = w_idx + 1, s_idx + 1
            rows.append(LayerInfo(f"b{r}.conv1", "conv", r, block.out_channels, block.out_channels,
                                  w_idx, s_idx, block.out_channels))
            w_idx, s_idx = w_idx + 1, s_idx + 1
            if block.has_torgb:
                # A ToRGB shares its w with the next block's first conv (NVIDIA indexing).
                rows.append(LayerInfo(f"b{r}.torgb", "torgb", r, block.out_channels, self.img_channels,
                                      w_idx, s_idx, block.out_channels))
                s_idx += 1
            rows.append(LayerInfo(f"b{r}", "block", r, block.in_channels, block.out_channels))
        return rows

    def layers(self) -> list[LayerInfo]:
        return list(self._layers)

    def styled_layers(self) -> list[LayerInfo]:
        return [l for l in self._layers if l.style_index >= 0]

    # --- protocol --------------------------------------------------------------------
    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        """z [B, z_dim] -> ws [B, num_ws, w_dim]; truncation around the checkpoint's w_avg."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got {list(z.shape)}")
        return self.mapping_net(z, c, truncation_psi, truncation_cutoff)

    def styles(self, ws) -> list[torch.Tensor]:
        """The StyleSpace vectors (affine outputs) of every styled layer, in layer-table order."""
        self._check_ws(ws)
        return [self._styled[l.name].affine(ws[:, l.w_index]) for l in self.styled_layers()]

    def _check_ws(self, ws):
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {list(ws.shape)}")

    def synthesis(self, ws, noise_mode="const", taps=None, generator=None, return_image=True, edits=None,
                  noise=None):
        """ws [B, num_ws, w_dim] -> image [B, C, H, W] (about [-1, 1]).

        With ``taps`` (layer names from ``layers()``) returns ``(image, {name: feature})``;
        ``return_image=False`` stops as soon as every tap is captured (image is then None).
        ``edits`` maps layer names to functions that replace that layer's output; ``noise``
        maps conv layer names to explicit noise maps [B or 1, 1, r, r] (see ``noise_layers``).
        """
        return self.synthesis_from_styles(self.styles(ws), noise_mode=noise_mode, taps=taps,
                                          generator=generator, return_image=return_image, edits=edits,
                                          noise=noise)

    def synthesis_from_styles(self, styles, noise_mode="const", taps=None, generator=None, return_image=True,
                              edits=None, resume: "SynthesisState | None" = None, noise=None):
        """Like ``synthesis`` but from StyleSpace codes; ``resume`` continues a partial run."""
        want = self._check_taps(taps)
        stop = None if return_image else want
        state, feats = self._run(styles, noise_mode, generator, want, edits, resume, until=None, stop_when=stop,
                                 noise=noise, track_image=return_image)
        if state is None:
            return None, feats
        if taps is None:
            return state.img
        return state.img, feats

    def synthesis_partial(self, styles, until: str, noise_mode="const", taps=None, generator=None, edits=None,
                          resume: "SynthesisState | None" = None, noise=None, track_image: bool = True):
        """Run up to and including layer ``until``; returns ``(state, feats)`` to resume from later.

        ``track_image=False`` skips the RGB path (for callers that only want features): the
        state then carries no image and must not be resumed into an image.
        """
        want = self._check_taps(taps)
        if until not in self._step_names:
            raise KeyError(f"unknown layer {until!r}; see layers() for names")
        return self._run(styles, noise_mode, generator, want, edits, resume, until=until, stop_when=None,
                         noise=noise, track_image=track_image)

    def noise_layers(self) -> dict[str, int]:
        """Conv layers that take per-pixel noise -> the noise map's resolution."""
        if not self.cfg.use_noise:
            return {}
        return {name: mod.resolution for name, mod in self._styled.items() if isinstance(mod, StyledConv)}

    def step_names(self) -> list[str]:
        """Every tap point (layer output) in execution order."""
        return list(self._step_names)

    def style_input_tap(self, layer_name: str) -> str:
        """The tap whose output is the input of a styled layer (what its style scales)."""
        return self._style_inputs[layer_name]

    def _check_taps(self, taps):
        want = set(taps or ())
        unknown = want - set(self._step_names)
        if unknown:
            raise KeyError(f"unknown tap(s) {sorted(unknown)}; see layers() for names")
        return want

    def _check_styles(self, styles):
        expected = self.styled_layers()
        if len(styles) != len(expected):
            raise ValueError(f"expected {len(expected)} style vectors, got {len(styles)}")
        for s, l in zip(styles, expected):
            if s.ndim != 2 or s.shape[1] != l.style_dim:
                raise ValueError(f"style for {l.name} must be [B, {l.style_dim}], got {list(s.shape)}")

    def _build_steps(self):
        """The synthesis as a flat list of named steps (tap points), in execution order."""
        steps, inputs, prev = [], {}, None
        for block in self.synthesis_blocks:
            r = block.resolution
            if block.in_channels == 0:
                steps.append((f"b{r}.const", "const", block))
                inputs[f"b{r}.conv1"] = f"b{r}.const"
                steps.append((f"b{r}.conv1", "conv1", block))
            else:
                inputs[f"b{r}.conv0"] = prev
                inputs[f"b{r}.conv1"] = f"b{r}.conv0"
                steps.append((f"b{r}.conv0", "conv0", block))
                steps.append((f"b{r}.conv1", "conv1", block))
            steps.append((f"b{r}", "block", block))
            if block.has_torgb:
                inputs[f"b{r}.torgb"] = f"b{r}"
                steps.append((f"b{r}.torgb", "torgb", block))
            prev = f"b{r}"
        return steps, inputs

    def _run(self, styles, noise_mode, generator, want, edits, resume, until, stop_when, noise=None,
             track_image=True):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        self._check_styles(styles)
        edits, noise = edits or {}, noise or {}
        unknown = set(edits) - set(self._step_names)
        if unknown:
            raise KeyError(f"cannot edit unknown layer(s) {sorted(unknown)}")
        unknown = set(noise) - set(self.noise_layers())
        if unknown:
            raise KeyError(f"no noise input at layer(s) {sorted(unknown)}; see noise_layers()")
        sidx = {l.name: l.style_index for l in self._layers if l.style_index >= 0}
        batch = styles[0].shape[0]
        if resume is None:
            st, started = SynthesisState(after=""), True
        else:
            if resume.after not in self._step_names:
                raise KeyError(f"cannot resume after unknown layer {resume.after!r}")
            if track_image and not resume.rgb_tracked:
                raise ValueError("this partial run skipped the RGB path (track_image=False); "
                                 "it can be resumed for features only")
            st, started = SynthesisState(resume.after, resume.x, resume.img, resume.skip, resume.rgb_tracked), False
        st.rgb_tracked = st.rgb_tracked and track_image
        feats = {}
        for name, kind, block in self._steps:
            if not started:
                started = name == st.after
                continue
            if kind == "torgb" and not track_image and name not in want and name != until:
                st.img = None      # the RGB path is not followed: no stale image survives
                st.after = name
                continue
            if kind == "const":
                out = block.const.unsqueeze(0).expand(batch, -1, -1, -1)
            elif kind == "conv0":
                st.skip = block.skip(st.x, gain=math.sqrt(0.5)) if block.architecture == "resnet" else None
                out = block.conv0(st.x, styles[sidx[name]], noise_mode, generator=generator, noise=noise.get(name))
            elif kind == "conv1":
                gain = math.sqrt(0.5) if st.skip is not None else 1.0
                out = block.conv1(st.x, styles[sidx[name]], noise_mode, gain=gain, generator=generator,
                                  noise=noise.get(name))
            elif kind == "block":
                out = st.x if st.skip is None else st.skip + st.x
                st.skip = None
            else:  # torgb: add this resolution's RGB to the up-sampled running image
                out = block.torgb(st.x, styles[sidx[name]])
            if name in edits:
                out = edits[name](out)
            if kind == "torgb":
                if not track_image:
                    st.img = None
                else:
                    st.img = out if st.img is None else self._fir.upsample2x(st.img) + out
            else:
                st.x = out
            st.after = name
            if name in want:
                feats[name] = out
            if name == until:
                return st, feats
            if stop_when is not None and len(feats) == len(stop_when):
                return None, feats
        return st, feats

    def forward(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)
