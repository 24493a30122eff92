"""LELSD (Pajouheshgar et al. 2022): latent directions whose edits stay inside one part.

A direction u is learned so that G(x + alpha u) changes the features of every synthesis
layer mostly inside a part mask. Per layer the localisation score is

    score = sum(diff * mask) / (sum(diff) + 1e-6),   diff = channel-mean (f(x + alpha u) - f(x))^2

with the mask the mean of the original's and the edited image's part masks resized to the
layer; the loss is -mean score (+ gamma * mean |corr(u_1..u_K) - I| for K directions).
The masks come from a catalog's clusters (computed without gradient from the catalog layer
the two forward passes produce anyway) or a fixed user mask: no pretrained segmenter.

Spaces: W (one vector), W+ (one per W+ row), S (one per styled layer). Directions are unit
vectors; strengths are in units of ``Directions.scale`` (the mean distance of a sample from
the mean sample in that space), so alpha = 1 is one "typical face-to-average" step. The
learner keeps u a unit vector from the first step on and trains on strengths up to 0.25 of
that unit (the reference's +-3 in W of a 1024 px FFHQ model is about 0.13-0.25 of it).
Global baselines of the same type: SeFa (closed form from the style affines) and PCA in W.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..generators.base import require_w_space
from ..errors import IncompatibleInputError
from ..identity import check_same_model, identity_meta
from ..latents import Latents
from .autograd import trainable
from .catalog import Catalog, _assign_positions, label_selection

SPACES = ("w", "w+", "s")


@dataclass(frozen=True)
class Directions:
    """K unit directions in one latent space of one generator (ComfyUI type GLE_DIRECTIONS)."""
    space: str
    vectors: torch.Tensor              # [K, D] unit rows (D = w_dim, num_ws * w_dim, or sum of style dims)
    part: str = ""
    scale: float = 1.0                 # latent units per strength 1
    meta: dict = field(default_factory=dict)   # generator identity, method, settings, scores

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")

    @property
    def k(self) -> int:
        return int(self.vectors.shape[0])

    def check_generator(self, generator) -> None:
        """Refuse directions of another model (tolerant identity, see core/identity.py) or layout."""
        check_same_model(self.meta, generator, what="this set of directions")
        want = space_dim(generator, self.space)
        if self.vectors.shape[1] != want:
            raise IncompatibleInputError(f"these {self.space.upper()} directions have size {self.vectors.shape[1]}, "
                                         f"but this generator's {self.space.upper()} space has {want}")

    def vector(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.k:
            raise ValueError(f"direction index {index} is outside 0..{self.k - 1}")
        return self.vectors[index]

    def describe(self) -> str:
        what = self.meta.get("method", "?")
        return (f"{self.k} {what} direction(s) in {self.space.upper()} for '{self.part or 'global'}' of "
                f"{self.meta.get('generator_name', '?')}")


def space_dim(generator, space: str) -> int:
    if space == "w":
        return generator.w_dim
    if space == "w+":
        return generator.num_ws * generator.w_dim
    if space == "s":
        return sum(l.style_dim for l in generator.styled_layers())
    raise ValueError(f"space must be one of {SPACES}, got {space!r}")


# --- moving codes along directions ------------------------------------------------------------
def shift_ws(generator, ws: torch.Tensor, space: str, u: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    """ws [B, num_ws, w_dim] + amount[B] * u (u [D] of space W or W+)."""
    if space == "w":
        return ws + amount[:, None, None] * u[None, None, :]
    return ws + amount[:, None, None] * u.view(1, generator.num_ws, generator.w_dim)


def shift_styles(generator, styles: list, u: torch.Tensor, amount: torch.Tensor) -> list:
    """Styles (one [B, d_l] per styled layer) + amount[B] * u split per layer."""
    parts = torch.split(u, [l.style_dim for l in generator.styled_layers()])
    return [s + amount[:, None] * p[None] for s, p in zip(styles, parts)]


def _styles_after(generator, ws, styles, space, u, amount):
    """The StyleSpace codes of ws/styles moved by amount * u (what the synthesis consumes)."""
    if space == "s":
        return shift_styles(generator, styles if styles is not None else generator.styles(ws), u, amount)
    return generator.styles(shift_ws(generator, ws, space, u, amount))


@torch.no_grad()
def latent_scale(generator, space: str, samples: int = 256, seed: int = 12345, psi: float = 1.0) -> float:
    """Mean distance of a sample's code from the mean code in ``space`` (the unit of strengths)."""
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(seed)).to(generator.device)
    ws = generator.mapping(z, truncation_psi=psi)
    if space == "s":
        x = torch.cat(generator.styles(ws), dim=1)
    elif space == "w":
        x = ws[:, 0]
    else:
        x = ws.flatten(1)
    return float((x - x.mean(0)).norm(dim=1).mean())


# --- masks ------------------------------------------------------------------------------------
class CatalogMasks:
    """Part masks from a catalog's clusters of the catalog layer's features (no gradient)."""

    def __init__(self, generator, catalog: Catalog, label):
        catalog.check_generator(generator)
        self.ids = catalog.cluster_ids(label)
        self.label = str(label)
        self.taps = [catalog.layer]
        dev = generator.device
        self._cat = (catalog.feat_mean.to(dev), catalog.feat_std.to(dev), catalog.centroids.to(dev),
                     catalog.position_weight)

    @torch.no_grad()
    def __call__(self, feats: dict) -> torch.Tensor:
        """feats (holding the catalog layer) -> soft part mask [B, 1, h, w] at that layer."""
        maps = _assign_positions(feats[self.taps[0]].detach().float(), *self._cat)
        return label_selection(maps, self.ids)[:, None]


class FixedMask:
    """A user MASK [H, W] or [1, H, W] (values 0..1) used for every sample."""

    def __init__(self, mask: torch.Tensor, label: str = "mask"):
        m = mask.float()
        if m.ndim == 3:
            if m.shape[0] != 1:
                raise ValueError("a mask source for learning must be one mask (every sample uses it)")
            m = m[0]
        if m.ndim != 2:
            raise ValueError(f"the mask must be [H, W], got {list(mask.shape)}")
        if float(m.max()) <= 0:
            raise ValueError("the mask is empty: paint the part to edit")
        self.mask, self.label, self.taps = m.clamp(0, 1)[None, None], label, []

    def __call__(self, feats: dict) -> torch.Tensor:
        return self.mask.clone()        # a normal tensor even when the mask was made in inference mode


def _resized(mask: torch.Tensor, size, cache: dict) -> torch.Tensor:
    key = tuple(size)
    if key not in cache:
        cache[key] = mask if tuple(mask.shape[-2:]) == key else F.interpolate(mask, size=key, mode="bilinear",
                                                                              align_corners=False)
    return cache[key]


def localisation_scores(before: dict, after: dict, mask_before: torch.Tensor, mask_after: torch.Tensor,
                        layers: list) -> torch.Tensor:
    """Per-sample mean over ``layers`` of sum(diff * mask) / (sum(diff) + 1e-6): [B]."""
    mask = (mask_before.to(after[layers[0]].device) + mask_after.to(after[layers[0]].device)) / 2
    cache, scores = {}, []
    for name in layers:
        diff = (after[name].float() - before[name].float()).square().mean(1, keepdim=True)    # [B, 1, h, w]
        m = _resized(mask, diff.shape[-2:], cache)
        scores.append((diff * m).flatten(1).sum(1) / (diff.flatten(1).sum(1) + 1e-6))
    return torch.stack(scores).mean(0)


def score_layers(generator) -> list:
    """Every conv layer of the synthesis (the paper: all synthesis layers, equal weights)."""
    return [l.name for l in generator.layers() if l.kind == "conv"]


def correlation_penalty(u: torch.Tensor) -> torch.Tensor:
    """mean |U U^T - I| of unit rows (0 when the directions are orthogonal, K = 1 gives 0)."""
    n = F.normalize(u, dim=1)
    return (n @ n.t() - torch.eye(n.shape[0], device=n.device)).abs().mean()


# --- the learner ------------------------------------------------------------------------------
@dataclass
class LearnSettings:
    space: str = "w+"
    k: int = 1
    batches: int = 0                 # 0 = the reference 200 * K
    batch: int = 4
    lr: float = 1e-3
    lr_halvings: int = 3
    alpha: float = 0.25              # |alpha| ~ U[alpha / 6, alpha], random sign, in units of the space's scale
    gamma: float = 5.0               # correlation regulariser weight (K > 1)
    truncation_psi: float = 0.7
    seed: int = 0

    def __post_init__(self):
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {self.space!r}")
        if self.k < 1 or self.batch < 1 or self.batches < 0:
            raise ValueError("k and batch must be >= 1 and batches >= 0")
        if self.alpha <= 0:
            raise ValueError("alpha must be positive")

    @property
    def total(self) -> int:
        return self.batches or 200 * self.k


def learn_directions(generator, mask_source, settings: LearnSettings | None = None, on_step=None) -> Directions:
    """Learn K local directions for the part ``mask_source`` marks.

    ``on_step(done, total, None)`` reports progress after every batch (and may raise to interrupt).
    Sample i of batch t moves along direction (t * batch + i) mod K, so each batch costs one
    no-grad forward of the originals plus one forward + backward of the edits. Runs with
    gradients even when the host (ComfyUI) calls it under ``torch.inference_mode()``.
    """
    with trainable():
        return _learn(generator, mask_source, settings or LearnSettings(), on_step)


def _learn(generator, mask_source, st: LearnSettings, on_step) -> Directions:
    g, dev = generator, generator.device
    layers = score_layers(g)
    taps = sorted(set(layers) | set(mask_source.taps))
    scale = latent_scale(g, st.space)
    gen = torch.Generator().manual_seed(int(st.seed))
    # unit rows from the start and after every step (as the reference): Adam's steps are then
    # sized relative to the direction itself, not to an arbitrary initial norm
    u = F.normalize(torch.randn(st.k, space_dim(g, st.space), generator=gen), dim=1).to(dev).requires_grad_(True)
    opt = torch.optim.Adam([u], lr=st.lr)
    total = st.total
    halve_at = {round(total * (i + 1) / (st.lr_halvings + 1)) for i in range(st.lr_halvings)}
    history = []
    for step in range(total):
        if step in halve_at:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        z = torch.randn(st.batch, g.z_dim, generator=gen).to(dev)
        sign = torch.randint(0, 2, (st.batch,), generator=gen) * 2 - 1
        size = st.alpha * (1 + 5 * torch.rand(st.batch, generator=gen)) / 6    # tiny moves teach nothing
        alpha = (sign * size * scale).to(dev)
        which = torch.arange(step * st.batch, (step + 1) * st.batch) % st.k
        with torch.no_grad():
            ws = g.mapping(z, truncation_psi=st.truncation_psi)
            styles0 = g.styles(ws)
            _, before = g.synthesis_from_styles(styles0, taps=taps, return_image=False)
            mask0 = mask_source(before)
        unit = F.normalize(u, dim=1)
        dirs = unit[which.to(dev)]                                             # [B, D]
        if st.space == "s":
            parts = torch.split(dirs, [l.style_dim for l in g.styled_layers()], dim=1)
            styles1 = [s + alpha[:, None] * p for s, p in zip(styles0, parts)]
        else:
            shape = (st.batch, 1, g.w_dim) if st.space == "w" else (st.batch, g.num_ws, g.w_dim)
            styles1 = g.styles(ws + alpha[:, None, None] * dirs.view(shape))
        _, after = g.synthesis_from_styles(styles1, taps=taps, return_image=False)
        score = localisation_scores(before, after, mask0, mask_source(after), layers).mean()
        loss = -score + (st.gamma * correlation_penalty(u) if st.k > 1 else 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            u.copy_(F.normalize(u, dim=1))
        history.append(float(score.detach()))
        if on_step is not None:
            on_step(step + 1, total, None)
    vectors = F.normalize(u.detach(), dim=1).cpu()
    tail = history[-max(1, total // 10):]
    meta = {**identity_meta(g), "method": "lelsd",
            "settings": {k: getattr(st, k) for k in st.__dataclass_fields__} | {"batches": total},
            "score_first": history[0], "score_last_tenth": sum(tail) / len(tail)}
    return Directions(space=st.space, vectors=vectors, part=getattr(mask_source, "label", ""), scale=scale, meta=meta)


@torch.no_grad()
def locality(generator, directions: Directions, index: int, mask_source, alpha: float = 1.0, samples: int = 16,
             seed: int = 1, truncation_psi: float = 0.7) -> float:
    """Mean localisation score of moving held-out samples by +-alpha (units of ``scale``) along a direction."""
    directions.check_generator(generator)
    g, dev = generator, generator.device
    layers = score_layers(g)
    taps = sorted(set(layers) | set(mask_source.taps))
    z = torch.randn(samples, g.z_dim, generator=torch.Generator().manual_seed(int(seed))).to(dev)
    ws = g.mapping(z, truncation_psi=truncation_psi)
    styles0 = g.styles(ws)
    _, before = g.synthesis_from_styles(styles0, taps=taps, return_image=False)
    u = directions.vector(index).to(dev)
    amount = torch.full((samples,), alpha * directions.scale, device=dev)
    amount[samples // 2:] *= -1
    _, after = g.synthesis_from_styles(_styles_after(g, ws, styles0, directions.space, u, amount), taps=taps,
                                       return_image=False)
    return float(localisation_scores(before, after, mask_source(before), mask_source(after), layers).mean())


def learn_for_part(generator, settings: LearnSettings, catalog: Catalog | None = None, label: str = "",
                   mask: torch.Tensor | None = None, on_step=None) -> Directions:
    """``learn_directions`` with the masks of a catalog label, or of one fixed MASK (resized to the image)."""
    require_w_space(generator, "Learning directions")
    if (catalog is None) == (mask is None):
        raise ValueError("give either a catalog with a label, or a mask (not both)")
    if catalog is not None:
        if not str(label).strip():
            raise ValueError("name the part to learn: a catalog label such as 'mouth', or cluster numbers")
        source = CatalogMasks(generator, catalog, str(label).strip())
    else:
        m = mask.float()
        m = m[None] if m.ndim == 2 else m
        r = generator.resolution
        if tuple(m.shape[-2:]) != (r, r):
            m = F.interpolate(m[:, None], size=(r, r), mode="bilinear", align_corners=False)[:, 0]
        source = FixedMask(m, label=str(label).strip() or "mask")
    return learn_directions(generator, source, settings, on_step=on_step)


# --- using directions -----------------------------------------------------------------------
def _base_codes(generator, latents: Latents, space: str):
    """(ws, styles) of the latents for moving in ``space`` (styles only for S)."""
    if space == "s":
        return None, latents.styles_for(generator)
    if latents.ws is None:
        raise IncompatibleInputError(f"these are StyleSpace latents; {space.upper()} directions need W/W+ codes "
                                     f"(use S directions, or latents from sampling/inversion)")
    return latents.ws_for(generator), None


def apply_directions(generator, latents: Latents, items: list) -> Latents:
    """Latents moved by sum of strength * scale * u for items (Directions, index, strength).

    W/W+ moves are added first; when any S direction is present the result is StyleSpace codes.
    """
    if not items:
        return latents
    for d, index, _ in items:
        d.check_generator(generator)
        d.vector(index)
    b = latents.batch_size
    ws = None if latents.ws is None else latents.ws_for(generator)
    with torch.no_grad():
        for d, index, strength in items:
            if d.space != "s":
                if ws is None:
                    _base_codes(generator, latents, d.space)
                amount = torch.full((b,), float(strength) * d.scale, device=generator.device)
                ws = shift_ws(generator, ws, d.space, d.vector(index).to(ws), amount)
        s_items = [it for it in items if it[0].space == "s"]
        source = {**latents.source, "directions": [f"{d.part or d.meta.get('method')}[{i}]*{s:g}" for d, i, s in items]}
        if not s_items:
            return Latents(ws=ws.cpu(), space="w+", source=source, noise=latents.noise)
        styles = generator.styles(ws) if ws is not None else latents.styles_for(generator)
        for d, index, strength in s_items:
            amount = torch.full((b,), float(strength) * d.scale, device=generator.device)
            styles = shift_styles(generator, styles, d.vector(index).to(styles[0]), amount)
    return Latents(styles=tuple(s.cpu() for s in styles), space="s", source=source, noise=latents.noise)


def traverse_latents(generator, latents: Latents, directions: Directions, index: int, alphas) -> Latents:
    """Every latent at every strength, image-major: [B * N] codes (one batch, no loop over alphas)."""
    directions.check_generator(generator)
    u = directions.vector(index).to(generator.device)
    a = torch.as_tensor([float(x) for x in alphas], dtype=torch.float32)
    if a.numel() < 1:
        raise ValueError("give at least one strength")
    n, b = a.numel(), latents.batch_size
    amount = (a.repeat(b) * directions.scale).to(generator.device)
    ws, styles = _base_codes(generator, latents, directions.space)
    noise = latents.repeat_each(n)
    source = {**latents.source, "traverse": [float(x) for x in a], "direction": index}
    with torch.no_grad():
        if directions.space == "s":
            rep = [s.repeat_interleave(n, dim=0) for s in styles]
            moved = shift_styles(generator, rep, u, amount)
            return Latents(styles=tuple(s.cpu() for s in moved), space="s", source=source, noise=noise)
        moved = shift_ws(generator, ws.repeat_interleave(n, dim=0), directions.space, u, amount)
    return Latents(ws=moved.cpu(), space="w+", source=source, noise=noise)


def traverse(generator, latents: Latents, directions: Directions, index: int, alphas,
             noise_mode: str = "const") -> tuple[torch.Tensor, Latents]:
    """Images [B * N, C, H, W] of every latent at every strength, as ONE batched synthesis."""
    moved = traverse_latents(generator, latents, directions, index, alphas)
    with torch.no_grad():
        img = generator.synthesis_from_styles(moved.styles_for(generator), noise_mode=noise_mode,
                                              noise=moved.noise_for(generator))
    return img.float().cpu(), moved


# --- global baselines -------------------------------------------------------------------------
def _affine_weight(generator, name: str) -> torch.Tensor:
    styled = getattr(generator, "_styled", {})
    mod = getattr(styled.get(name), "affine", None)
    if mod is None:
        raise IncompatibleInputError(f"SeFa needs the style affine of layer {name!r}; this generator has none")
    return (mod.weight * mod.weight_gain).detach().float()


def sefa_directions(generator, k: int = 5, layers: list | None = None) -> Directions:
    """SeFa (Shen & Zhou 2021): top-k eigenvectors of sum_l A_l^T A_l over the chosen layers'
    style affines A_l (columns normalised), as W directions."""
    require_w_space(generator, "SeFa")
    names = [l.name for l in generator.styled_layers()] if not layers else list(layers)
    known = {l.name for l in generator.styled_layers()}
    bad = [n for n in names if n not in known]
    if bad:
        raise ValueError(f"layers {bad} are not styled layers; choose from {sorted(known)}")
    if not 1 <= k <= generator.w_dim:
        raise ValueError(f"k must be in 1..{generator.w_dim}")
    a = torch.cat([_affine_weight(generator, n) for n in names]).cpu().double()
    a = a / a.norm(dim=0, keepdim=True).clamp_min(1e-12)
    vals, vecs = torch.linalg.eigh(a.t() @ a)
    order = torch.argsort(vals, descending=True)[:k]
    meta = {**identity_meta(generator), "method": "sefa", "layers": names,
            "eigenvalues": [float(v) for v in vals[order]]}
    return Directions(space="w", vectors=vecs[:, order].t().float().contiguous(), part="",
                      scale=latent_scale(generator, "w"), meta=meta)


@torch.no_grad()
def pca_directions(generator, k: int = 5, samples: int = 5000, seed: int = 0) -> Directions:
    """GANSpace-style: the top-k principal axes of sampled w codes (psi 1), as W directions."""
    require_w_space(generator, "PCA directions")
    if not 1 <= k <= generator.w_dim:
        raise ValueError(f"k must be in 1..{generator.w_dim}")
    if samples <= k:
        raise ValueError("samples must exceed k")
    z = torch.randn(samples, generator.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    w = generator.mapping(z.to(generator.device))[:, 0].double().cpu()
    x = w - w.mean(0)
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    meta = {**identity_meta(generator), "method": "pca", "samples": samples, "seed": int(seed),
            "explained_std": [float(v) / math.sqrt(samples - 1) for v in s[:k]]}
    return Directions(space="w", vectors=vh[:k].float().contiguous(), part="", scale=latent_scale(generator, "w"),
                      meta=meta)
