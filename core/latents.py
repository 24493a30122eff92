"""Latent codes as one value that travels between operations (ComfyUI type GLE_LATENT).

A batch is either W+ codes ``ws`` [B, num_ws, w_dim] (W codes are W+ with equal rows),
StyleSpace codes ``styles`` (one [B, dim] tensor per styled layer, e.g. after a local
style edit), or StyleMapGAN stylemaps ``stylemap`` [B, C, h, w] (space "stylemap"), which
only a StyleMapGAN takes and a StyleMapGAN takes nothing else. Tensors live on the CPU and are moved to the generator's device on use, so a
latent made with a GPU generator can be saved, shared and reused anywhere. Instances are
never modified in place: every operation returns a new one.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch

from .errors import IncompatibleInputError


@dataclass(frozen=True)
class Latents:
    ws: torch.Tensor | None = None
    styles: tuple | None = None
    space: str = "w+"                       # "w", "w+", "s" or "stylemap"
    source: dict = field(default_factory=dict)   # provenance: seed, psi, fingerprint, ...
    noise: dict | None = None               # per-image noise maps (from inversion): layer -> [B, 1, r, r]
    stylemap: torch.Tensor | None = None    # StyleMapGAN: [B, C, h, w]

    def __post_init__(self):
        if sum(x is not None for x in (self.ws, self.styles, self.stylemap)) != 1:
            raise ValueError("Latents need exactly one of ws, styles or stylemap")

    @property
    def batch_size(self) -> int:
        if self.stylemap is not None:
            return int(self.stylemap.shape[0])
        return int(self.ws.shape[0] if self.ws is not None else self.styles[0].shape[0])

    def check_compatible(self, generator) -> None:
        """Fail clearly when codes come from a generator with another latent layout."""
        takes_stylemap = getattr(generator, "latent_kind", "ws") == "stylemap"
        if self.stylemap is not None and not takes_stylemap:
            raise IncompatibleInputError(
                f"these are StyleMapGAN stylemap latents {list(self.stylemap.shape[1:])}; the generator "
                f"'{generator.name}' is a {generator.architecture} and takes W/W+ codes")
        if self.stylemap is None and takes_stylemap:
            raise IncompatibleInputError(
                f"these are {self.space.upper()} codes of a StyleGAN2; the generator '{generator.name}' is a "
                f"StyleMapGAN and takes stylemaps (from its own samples or Encode Image)")
        if self.stylemap is not None:
            if tuple(self.stylemap.shape[1:]) != tuple(generator.stylemap_shape):
                raise IncompatibleInputError(
                    f"these stylemaps have shape {list(self.stylemap.shape[1:])}, but the StyleMapGAN "
                    f"'{generator.name}' expects {list(generator.stylemap_shape)}: they come from another model")
        elif self.ws is not None:
            want = (generator.num_ws, generator.w_dim)
            if tuple(self.ws.shape[1:]) != want:
                raise IncompatibleInputError(
                    f"these latents are W+ codes of shape {list(self.ws.shape[1:])}, but the generator "
                    f"'{generator.name}' expects {list(want)} (num_ws, w_dim): they come from another model")
        else:
            dims = [l.style_dim for l in generator.styled_layers()]
            got = [int(s.shape[1]) for s in self.styles]
            if dims != got:
                raise IncompatibleInputError(
                    f"these StyleSpace latents have layer sizes {got}, but the generator '{generator.name}' "
                    f"has {dims}: they come from another model")

    def styles_for(self, generator) -> list[torch.Tensor]:
        """StyleSpace codes on the generator's device (computed from ws when needed)."""
        self.check_compatible(generator)
        dev = generator.device
        if self.styles is not None:
            return [s.to(dev) for s in self.styles]
        return generator.styles(self.ws.to(dev))

    def noise_for(self, generator) -> dict | None:
        """The carried noise maps on the generator's device (None = use the noise mode)."""
        if not self.noise:
            return None
        layers = generator.noise_layers()
        for name, t in self.noise.items():
            if name not in layers or tuple(t.shape[-2:]) != (layers[name], layers[name]):
                raise IncompatibleInputError(f"these latents carry noise for layer {name!r} of shape "
                                             f"{list(t.shape)}, which this generator does not have")
        return {k: v.to(generator.device) for k, v in self.noise.items()}

    def stylemap_for(self, generator) -> torch.Tensor:
        """The stylemaps on the generator's device (StyleMapGAN only)."""
        self.check_compatible(generator)
        return self.stylemap.to(generator.device)

    def ws_for(self, generator) -> torch.Tensor:
        self.check_compatible(generator)
        if self.ws is None:
            raise IncompatibleInputError("these are StyleSpace latents; this operation needs W/W+ codes")
        return self.ws.to(generator.device)

    def select(self, index) -> "Latents":
        """A sub-batch (int, slice or index list), as a new value."""
        if isinstance(index, int):
            index = [index]
        noise = None if not self.noise else {k: v[index] for k, v in self.noise.items()}
        if self.stylemap is not None:
            return replace(self, stylemap=self.stylemap[index])
        if self.ws is not None:
            return replace(self, ws=self.ws[index], noise=noise)
        return replace(self, styles=tuple(s[index] for s in self.styles), noise=noise)

    def repeat_each(self, n: int) -> dict | None:
        """The noise maps with every image repeated n times (for sweeps), or None."""
        if not self.noise:
            return None
        return {k: v.repeat_interleave(n, dim=0) for k, v in self.noise.items()}

    @staticmethod
    def concat(items: list["Latents"]) -> "Latents":
        if not items:
            raise ValueError("nothing to concatenate")
        if all(i.ws is not None for i in items):
            noise = None
            if all(i.noise for i in items) and len({tuple(sorted(i.noise)) for i in items}) == 1:
                noise = {k: torch.cat([i.noise[k] for i in items]) for k in items[0].noise}
            elif any(i.noise for i in items):
                raise IncompatibleInputError("cannot concatenate latents with and without fitted noise")
            return Latents(ws=torch.cat([i.ws for i in items]), space="w+", source={"concat": len(items)},
                           noise=noise)
        if all(i.stylemap is not None for i in items):
            if len({tuple(i.stylemap.shape[1:]) for i in items}) > 1:
                raise IncompatibleInputError("cannot concatenate stylemaps of different shapes")
            return Latents(stylemap=torch.cat([i.stylemap for i in items]), space="stylemap",
                           source={"concat": len(items)})
        raise IncompatibleInputError("only W/W+ latents or only stylemaps can be concatenated")

    def describe(self) -> str:
        if self.stylemap is not None:
            return f"{self.batch_size} stylemap(s) {list(self.stylemap.shape[1:])}"
        if self.ws is not None:
            return f"{self.batch_size} {self.space.upper()} code(s), ws {list(self.ws.shape[1:])}"
        return f"{self.batch_size} StyleSpace code(s), {len(self.styles)} layers"
