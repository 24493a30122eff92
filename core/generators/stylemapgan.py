"""StyleMapGAN (Kim et al. 2021): a generator whose latent is a spatial *stylemap*, plus its encoder.

Written for parity with the official ``training/model.py`` (naver-ai/StyleMapGAN). Parameter
names mirror the official state dicts (``mapping_z.*``, ``decoder.*``; the encoder's under
``encoder.*``), so converting a checkpoint is a key prefix, and weights are stored unscaled
(equalised learning rate gains applied at run time). The FIR blur kernels are not parameters:
they are rebuilt from ``blur_kernel`` taps.

Latent: ``mapping(z) -> stylemap [B, C, h, w]``; ``synthesis(stylemap) -> image``;
``encode(images) -> stylemap`` (one forward pass). The decoder turns the stylemap into one
*stylecode* per styled layer (``stylecodes``), each at its layer's resolution; local edits mix
stylemaps (w space) or stylecodes (w+ space) and decode with ``synthesis_from_stylecodes``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import IncompatibleInputError
from .base import Generator, LayerInfo, config_from_json
from .fir import FIRFilter, make_filter

SQRT2 = math.sqrt(2.0)
NORMALIZE_MODES = ("LayerNorm", "InstanceNorm2d", None)


@dataclass
class StyleMapGANConfig:
    """Everything needed to rebuild the generator (and encoder); saved as JSON with the weights."""
    z_dim: int
    style_dim: int                 # stylemap channels (the official latent_channel_size)
    latent_size: int               # stylemap height = width (latent_spatial_size)
    resolution: int
    channels: dict                 # decoder features per resolution, latent_size .. resolution
    stylecode_channels: dict       # stylecode channels per resolution (= channels unless small_generator)
    mapping_layers: int = 8
    mapping_hidden: int | None = None     # None = style_dim (the official layout)
    mapping_lr_mul: float = 0.01
    normalize_mode: str | None = "LayerNorm"
    encoder_channels: dict | None = None  # encoder features per resolution, resolution .. latent_size
    blur_kernel: list = field(default_factory=lambda: [1, 3, 3, 1])
    img_channels: int = 3

    def __post_init__(self):
        self.channels = {int(k): int(v) for k, v in self.channels.items()}
        self.stylecode_channels = {int(k): int(v) for k, v in self.stylecode_channels.items()}
        if self.encoder_channels is not None:
            self.encoder_channels = {int(k): int(v) for k, v in self.encoder_channels.items()}
        for name, v in (("resolution", self.resolution), ("latent_size", self.latent_size)):
            if v < 1 or v & (v - 1):
                raise ValueError(f"{name} must be a power of two, got {v}")
        if self.latent_size > self.resolution:
            raise ValueError("the stylemap cannot be larger than the image")
        missing = [r for r in self.resolutions if r not in self.channels or r not in self.stylecode_channels]
        if missing:
            raise ValueError(f"channel tables lack resolutions {missing}")
        if self.encoder_channels is not None:
            missing = [r for r in self.resolutions if r not in self.encoder_channels]
            if missing:
                raise ValueError(f"encoder channel table lacks resolutions {missing}")
        if self.normalize_mode not in NORMALIZE_MODES:
            raise ValueError(f"normalize_mode must be one of {NORMALIZE_MODES}, got {self.normalize_mode!r}")
        if self.mapping_layers < 1:
            raise ValueError("mapping_layers must be at least 1")

    @property
    def resolutions(self) -> list[int]:
        """latent_size, 2*latent_size, ..., resolution."""
        n = int(math.log2(self.resolution // self.latent_size))
        return [self.latent_size * 2 ** i for i in range(n + 1)]

    def to_json_dict(self) -> dict:
        d = asdict(self)
        for k in ("channels", "stylecode_channels", "encoder_channels"):
            if d[k] is not None:
                d[k] = {str(r): c for r, c in sorted(d[k].items())}
        return d

    @classmethod
    def from_json_dict(cls, d: dict) -> "StyleMapGANConfig":
        return config_from_json(cls, d, "StyleMapGAN")


def channels_last(t: torch.Tensor) -> torch.Tensor:
    """Feature maps in NHWC order: on the CPU (oneDNN) this decoder ran 1.1-1.5x faster at batch 8 and
    no slower at batch 1 in A/B runs, and the convolutions hand NHWC on without reordering."""
    return t.contiguous(memory_format=torch.channels_last)


# --- building blocks (names mirror the official modules) ---------------------------------
def lrelu_bias(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The official FusedLeakyReLU: leaky_relu(x + bias, 0.2) * sqrt(2)."""
    return F.leaky_relu(x + bias.reshape(1, -1, *([1] * (x.ndim - 2))), 0.2) * SQRT2


class EqLinear(nn.Module):
    """Equalised linear layer followed by the fused bias + leaky ReLU (the mapping's only kind)."""

    def __init__(self, cin, cout, lr_mul):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale, self.lr_mul = lr_mul / math.sqrt(cin), lr_mul

    def forward(self, x):
        return lrelu_bias(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)


class EqConv(nn.Module):
    """Equalised conv weight (+ optional bias), applied plainly, transposed (up) or strided (down)."""

    def __init__(self, cin, cout, k, bias=False, bias_init=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        if bias:
            self.bias = nn.Parameter(torch.full([cout], float(bias_init)))
        self.scale = 1 / math.sqrt(cin * k * k)

    def forward(self, x, stride=1, padding=0, gain=1.0):
        b = self.bias if hasattr(self, "bias") else None
        return F.conv2d(x, self.weight * (self.scale * gain), b, stride=stride, padding=padding)

    def up(self, x, gain=1.0):
        return F.conv_transpose2d(x, (self.weight * (self.scale * gain)).transpose(0, 1), stride=2)


class ActBias(nn.Module):
    """The bias of a FusedLeakyReLU (its own module in the official ConvLayer).

    Its input is always a conv output nobody else holds, so without autograd the bias, activation
    and gain are applied in place (three fewer feature maps allocated per layer)."""

    def __init__(self, c):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        if torch.is_grad_enabled():
            return lrelu_bias(x, self.bias)
        b = self.bias.reshape(1, -1, *([1] * (x.ndim - 2)))
        return F.leaky_relu_(x.add_(b), 0.2).mul_(SQRT2)


def blur_pad(taps: int, k: int, up: bool) -> int:
    """Symmetric FIR padding that makes an up (down) sampling conv output exactly 2H (H/2)."""
    p = taps - 2 - (k - 1) if up else taps - 2 + (k - 1)
    pad0, pad1 = ((p + 1) // 2 + 1, p // 2 + 1) if up else ((p + 1) // 2, p // 2)
    if pad0 != pad1:
        raise ValueError(f"a {taps}-tap blur kernel with {k}x{k} convs needs asymmetric padding (unsupported)")
    return pad0


class ConvLayer(nn.Module):
    """The official ConvLayer: [blur] conv [blur] [bias + lrelu]; submodule indices as its Sequential."""

    def __init__(self, cin, cout, k, fir: FIRFilter, mode="plain", activate=True):
        super().__init__()
        self.k, self.mode, self._fir = k, mode, fir
        self.pad = blur_pad(fir.taps, k, mode == "up") if mode != "plain" else k // 2
        conv_idx = 1 if mode == "down" else 0
        self.add_module(str(conv_idx), EqConv(cin, cout, k))
        self._conv_name = str(conv_idx)
        self._act_name = str(conv_idx + 1 + int(mode == "up")) if activate else None
        if activate:
            self.add_module(self._act_name, ActBias(cout))

    def forward(self, x, gain: float = 1.0):
        """``gain`` scales the conv weight (a free multiply of the output when there is no activation)."""
        conv = self._modules[self._conv_name]
        if self.mode == "up":
            x = self._fir.blur(conv.up(x, gain), pad=self.pad, gain=4.0)   # 2H+k-2 -> 2H
        elif self.mode == "down":
            x = conv(self._fir.blur(x, pad=self.pad), stride=2, gain=gain)
        else:
            x = conv(x, padding=self.pad, gain=gain)
        if self._act_name is not None:
            x = self._modules[self._act_name](x)
        return x


class ModulatedConv(nn.Module):
    """Spatially-variant modulation: norm(x) * gamma(s) + beta(s), then a plain conv (no demodulation)."""

    def __init__(self, cin, cout, k, style_ch, fir: FIRFilter, normalize_mode, up=False):
        super().__init__()
        self.in_channels, self.out_channels, self.k, self.up = cin, cout, k, up
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.scale = 1 / math.sqrt(cin * k * k)
        self.gamma = EqConv(style_ch, cin, 3, bias=True, bias_init=1.0)
        self.beta = EqConv(style_ch, cin, 3, bias=True)
        self.normalize_mode = normalize_mode
        self._fir = fir
        self.pad = blur_pad(fir.taps, k, True) if up else k // 2

    def modulation(self, stylecode, bias=True):
        """(gamma, beta) of a stylecode; ``bias=False`` gives their linear part only (for differences)."""
        if bias:
            return self.gamma(stylecode, padding=1), self.beta(stylecode, padding=1)
        return tuple(F.conv2d(stylecode, m.weight * m.scale, padding=1) for m in (self.gamma, self.beta))

    def forward(self, x, stylecode=None, mod=None):
        if self.normalize_mode == "LayerNorm":
            x = F.layer_norm(x, x.shape[1:], eps=1e-5)
        elif self.normalize_mode == "InstanceNorm2d":
            x = F.instance_norm(x, eps=1e-5)
        gamma, beta = mod if mod is not None else self.modulation(stylecode)
        x = torch.addcmul(beta, x, gamma)
        w = self.weight[0] * self.scale
        if self.up:
            x = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
            return self._fir.blur(x, pad=self.pad, gain=4.0)
        return F.conv2d(x, w, padding=self.pad)


class StyledConv(nn.Module):
    def __init__(self, cin, cout, k, style_ch, fir, normalize_mode, up=False):
        super().__init__()
        self.conv = ModulatedConv(cin, cout, k, style_ch, fir, normalize_mode, up)
        self.activate = ActBias(cout)

    def forward(self, x, stylecode=None, mod=None):
        return self.activate(self.conv(x, stylecode, mod))


class StyledResBlock(nn.Module):
    """(conv2(conv1_up(x, s1), s2) + skip_up(x)) / sqrt(2)."""

    def __init__(self, cin, cout, style_in, style_out, fir, normalize_mode):
        super().__init__()
        self.conv1 = StyledConv(cin, cout, 3, style_in, fir, normalize_mode, up=True)
        self.conv2 = StyledConv(cout, cout, 3, style_out, fir, normalize_mode)
        self.skip = ConvLayer(cin, cout, 1, fir, mode="up", activate=False)


class ResBlock(nn.Module):
    """Encoder block: (conv2_down(conv1(x)) + skip_down(x)) / sqrt(2)."""

    def __init__(self, cin, cout, fir):
        super().__init__()
        self.conv1 = ConvLayer(cin, cin, 3, fir)
        self.conv2 = ConvLayer(cin, cout, 3, fir, mode="down")
        self.skip = ConvLayer(cin, cout, 1, fir, mode="down", activate=False)

    def forward(self, x):
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Encoder(nn.Module):
    """Image -> stylemap in one pass (the official Encoder)."""

    def __init__(self, cfg: StyleMapGANConfig, fir: FIRFilter):
        super().__init__()
        ch, res = cfg.encoder_channels, cfg.resolutions[::-1]
        self.from_rgb = ConvLayer(cfg.img_channels, ch[res[0]], 1, fir)
        self.convs = nn.ModuleList(ResBlock(ch[r], ch[r // 2], fir) for r in res[:-1])
        self.final_conv = ConvLayer(ch[res[-1]], cfg.style_dim, 3, fir)

    def forward(self, x):
        x = self.from_rgb(x)
        for block in self.convs:
            x = block(x)
        return self.final_conv(x)


class ConstantInput(nn.Module):
    def __init__(self, c, size):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, c, size, size))


class Decoder(nn.Module):
    """Stylemap -> stylecodes (``convs_latent``) -> image (const, styled res blocks, to_rgb)."""

    def __init__(self, cfg: StyleMapGANConfig, fir: FIRFilter):
        super().__init__()
        res, ch, sc = cfg.resolutions, cfg.channels, cfg.stylecode_channels
        ls = cfg.latent_size
        self.input = ConstantInput(ch[ls], ls)
        self.conv1 = StyledConv(ch[ls], ch[ls], 3, sc[ls], fir, cfg.normalize_mode)
        latent = [ConvLayer(cfg.style_dim, sc[ls], 3, fir), ConvLayer(sc[ls], sc[ls], 3, fir)]
        for r in res[1:]:
            latent += [ConvLayer(sc[r // 2], sc[r], 3, fir, mode="up"), ConvLayer(sc[r], sc[r], 3, fir)]
        self.convs_latent = nn.ModuleList(latent)
        self.convs = nn.ModuleList(StyledResBlock(ch[r // 2], ch[r], sc[r // 2], sc[r], fir, cfg.normalize_mode)
                                   for r in res[1:])
        self.to_rgb = StyledConv(ch[res[-1]], cfg.img_channels, 1, sc[res[-1]], fir, cfg.normalize_mode)


class _Mapping(nn.Module):
    """PixelNorm then EqLinear layers; module names ``1..n`` as the official Sequential (0 = PixelNorm)."""

    def __init__(self, cfg: StyleMapGANConfig):
        super().__init__()
        hidden = cfg.mapping_hidden or cfg.style_dim
        out = cfg.style_dim * cfg.latent_size ** 2
        dims = [cfg.z_dim] + [hidden] * (cfg.mapping_layers - 1) + [out]
        for i in range(cfg.mapping_layers):
            self.add_module(str(i + 1), EqLinear(dims[i], dims[i + 1], cfg.mapping_lr_mul))
        self.n = cfg.mapping_layers

    def forward(self, z):
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for i in range(self.n):
            x = self._modules[str(i + 1)](x)
        return x


class StyleMapGANGenerator(Generator):
    """The generator (+ encoder when the checkpoint has one) behind the pack's Generator protocol."""

    architecture = "stylemapgan"
    latent_kind = "stylemap"
    capabilities = frozenset({"z", "stylemap", "features"})

    def __init__(self, cfg: StyleMapGANConfig):
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.w_dim, self.resolution = cfg.z_dim, cfg.style_dim, cfg.resolution
        self.img_channels, self.latent_size = cfg.img_channels, cfg.latent_size
        self._fir = FIRFilter(make_filter(cfg.blur_kernel))
        self.mapping_z = _Mapping(cfg)
        self.decoder = Decoder(cfg, self._fir)
        if cfg.encoder_channels is not None:
            self.encoder = Encoder(cfg, self._fir)
            self.capabilities = frozenset(self.capabilities | {"encoder"})
        self.register_buffer("stylemap_avg", torch.zeros(cfg.style_dim, cfg.latent_size, cfg.latent_size),
                             persistent=False)
        self.num_ws = 2 * len(cfg.resolutions)       # stylecodes: two per resolution
        self._layers = self._build_layer_table()

    # --- sizes / protocol -------------------------------------------------------------
    @property
    def stylemap_shape(self) -> tuple:
        return (self.cfg.style_dim, self.latent_size, self.latent_size)

    @property
    def has_encoder(self) -> bool:
        return "encoder" in self._modules

    def config(self) -> dict:
        return self.cfg.to_json_dict()

    def _build_layer_table(self) -> list[LayerInfo]:
        res, ch, sc = self.cfg.resolutions, self.cfg.channels, self.cfg.stylecode_channels
        rows = [LayerInfo(f"b{res[0]}.const", "const", res[0], 0, ch[res[0]]),
                LayerInfo(f"b{res[0]}.conv1", "conv", res[0], ch[res[0]], ch[res[0]], 0, 0, sc[res[0]]),
                LayerInfo(f"b{res[0]}", "block", res[0], ch[res[0]], ch[res[0]])]
        for i, r in enumerate(res[1:]):
            rows += [LayerInfo(f"b{r}.conv1", "conv", r, ch[r // 2], ch[r], 2 * i + 1, 2 * i + 1, sc[r // 2]),
                     LayerInfo(f"b{r}.conv2", "conv", r, ch[r], ch[r], 2 * i + 2, 2 * i + 2, sc[r]),
                     LayerInfo(f"b{r}", "block", r, ch[r // 2], ch[r])]
        n = self.num_ws - 1
        rows.append(LayerInfo("torgb", "torgb", res[-1], ch[res[-1]], self.img_channels, n, n, sc[res[-1]]))
        return rows

    def layers(self) -> list[LayerInfo]:
        return list(self._layers)

    def stylecode_resolutions(self) -> list[int]:
        """Resolution of each stylecode, in order (two per resolution)."""
        return [r for r in self.cfg.resolutions for _ in range(2)]

    # --- latent paths -----------------------------------------------------------------
    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        """z [B, z_dim] -> stylemap [B, C, h, w]; truncation pulls towards ``stylemap_avg``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got {list(z.shape)}")
        s = self.mapping_z(z.to(torch.float32)).reshape(z.shape[0], *self.stylemap_shape)
        if truncation_psi != 1:
            s = self.stylemap_avg.lerp(s, truncation_psi)
        return s

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, 3, H, W] (about [-1, 1], at the model's resolution) -> stylemap, one pass."""
        if not self.has_encoder:
            raise IncompatibleInputError(f"the StyleMapGAN '{self.name}' has no encoder (its checkpoint had no "
                                         f"e_ema weights), so it cannot project images")
        want = (self.img_channels, self.resolution, self.resolution)
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(f"images must be [B, {', '.join(map(str, want))}], got {list(images.shape)}")
        return self.encoder(channels_last(images)).contiguous()

    def check_stylemap(self, stylemap: torch.Tensor) -> None:
        if stylemap.ndim != 4 or tuple(stylemap.shape[1:]) != self.stylemap_shape:
            raise ValueError(f"a stylemap must be [B, {', '.join(map(str, self.stylemap_shape))}], "
                             f"got {list(stylemap.shape)}")

    def stylecodes(self, stylemap: torch.Tensor) -> list[torch.Tensor]:
        """The stylecode of every styled layer (w+ space), coarse to fine."""
        self.check_stylemap(stylemap)
        out, s = [], channels_last(stylemap)
        for layer in self.decoder.convs_latent:
            s = layer(s)
            out.append(s)
        return out

    def synthesis(self, stylemap, taps=None, **_ignored):
        """stylemap -> image [B, 3, H, W]; with ``taps`` returns ``(image, {layer name: feature})``."""
        return self.synthesis_from_stylecodes(self.stylecodes(stylemap), taps=taps)

    def styled_convs(self) -> list:
        """The styled layers in stylecode order (conv1, each block's conv1 and conv2, to_rgb)."""
        dec = self.decoder
        return [dec.conv1] + [c for block in dec.convs for c in (block.conv1, block.conv2)] + [dec.to_rgb]

    def synthesis_from_stylecodes(self, codes, taps=None):
        """Stylecodes (w+ space, one per styled layer) -> image (+ taps)."""
        if len(codes) != self.num_ws:
            raise ValueError(f"expected {self.num_ws} stylecodes, got {len(codes)}")
        mods = [layer.conv.modulation(c) for layer, c in zip(self.styled_convs(), codes)]
        return self._decode(mods, codes[0].shape[0], taps)

    def synthesis_stylecode_sweep(self, base, delta, alphas, taps=None):
        """Images of the stylecodes ``base + a * delta`` for every ``a`` in ``alphas``, batched pair-major.

        gamma and beta are affine in the stylecode, so their convolutions run on ``base`` and
        ``delta`` once, whatever the number of strengths; only the main convolutions run per image.
        """
        if len(base) != self.num_ws or len(delta) != self.num_ws:
            raise ValueError(f"expected {self.num_ws} stylecodes")
        a = torch.as_tensor(alphas, dtype=base[0].dtype, device=base[0].device).reshape(1, -1, 1, 1, 1)
        mods = []
        for layer, b, d in zip(self.styled_convs(), base, delta):
            mb, md = layer.conv.modulation(b), layer.conv.modulation(d, bias=False)
            mods.append(tuple(torch.addcmul(x0[:, None], a, x1[:, None]).flatten(0, 1) for x0, x1 in zip(mb, md)))
        return self._decode(mods, base[0].shape[0] * a.shape[1], taps)

    def _decode(self, mods, batch, taps=None):
        want = set(taps or ())
        unknown = want - {l.name for l in self._layers}
        if unknown:
            raise KeyError(f"unknown tap(s) {sorted(unknown)}; see layers() for names")
        feats = {}
        res, dec = self.cfg.resolutions, self.decoder

        def tap(name, x):
            if name in want:
                feats[name] = x.contiguous()
            return x

        mods = [tuple(channels_last(t) for t in m) for m in mods]
        x = tap(f"b{res[0]}.const", channels_last(dec.input.input.expand(batch, -1, -1, -1)))
        x = tap(f"b{res[0]}.conv1", dec.conv1(x, mod=mods[0]))
        x = tap(f"b{res[0]}", x)
        for i, (r, block) in enumerate(zip(res[1:], dec.convs)):
            h = tap(f"b{r}.conv1", block.conv1(x, mod=mods[2 * i + 1]))
            h = tap(f"b{r}.conv2", block.conv2(h, mod=mods[2 * i + 2]))
            x = tap(f"b{r}", torch.add(block.skip(x, gain=1 / SQRT2), h, alpha=1 / SQRT2))
        img = tap("torgb", dec.to_rgb(x, mod=mods[-1])).contiguous()
        return img if taps is None else (img, feats)

    def forward(self, z, c=None, truncation_psi=1.0, **_ignored):
        return self.synthesis(self.mapping(z, truncation_psi=truncation_psi))

    @torch.no_grad()
    def estimate_stylemap_avg(self, samples: int = 4096, seed: int = 1) -> None:
        """Mean stylemap of seeded samples (the official truncation_mean_latent), for truncation."""
        z = torch.randn(samples, self.z_dim, generator=torch.Generator().manual_seed(seed))
        self.stylemap_avg.copy_(self.mapping(z.to(self.device)).mean(0))

    # --- StyleGAN2-only paths refuse in one line ----------------------------------------
    def _refuse(self, *_a, **_k):
        raise IncompatibleInputError(
            f"'{self.name}' is a StyleMapGAN (stylemap latents): this operation needs a StyleGAN2 with W/W+ "
            f"codes; use the Stylemap nodes (Encode Image, Stylemap Blend) with it")

    styles = synthesis_from_styles = synthesis_partial = noise_layers = styled_layers = _refuse
    style_input_tap = step_names = _refuse

    @property
    def w_avg(self):
        self._refuse()
