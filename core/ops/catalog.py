"""Editing in Style (Collins et al. 2020): a semantic catalog of a generator.

Spherical k-means of one layer's activations over N samples finds clusters that follow
object parts (eyes, mouth, hair, background, ...). For every styled layer, the catalog
then records how much each style channel c contributes to each cluster k:

    M[k, c] = mean_{n,h,w} A_l[n,c,h,w]^2 * U_l[n,k,h,w]

with A_l the layer's input normalised per channel (zero mean, unit variance) and U_l the
one-hot cluster maps bilinearly resized to that layer; rows are normalised so that
sum_k M[k, c] = 1. Local style transfer (``style_transfer.py``) reads M.

Beyond the paper, ``position_weight`` > 0 appends each position's normalised image coordinates
(y, x in [-1, 1]) times the weight to the unit-length features before k-means, so clusters are
also spatially coherent (two dark horizontal features, eyes and mouth, fall apart). Weight 0 is
the paper's plain spherical k-means. The weight is kept in ``meta`` and used whenever positions
are assigned to clusters (masks, previews).

Cost: one synthesis pass. Layers before the clustered one are kept (they are small), the
run is paused at the clustered layer, k-means runs, and the synthesis resumes from the
paused state while contributions of the later layers are accumulated on the fly.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from ..generators.base import require_w_space
from ..identity import check_same_model, identity_meta
from .generate import sample_latents
from .kmeans import spherical_kmeans

DEFAULT_RESOLUTION = 32
FIT_ROWS = 16384        # k-means is fitted on this many random positions, then every position is assigned


@dataclass(frozen=True)
class Catalog:
    """Clusters of one layer plus per-layer channel contributions (ComfyUI type GLE_CATALOG)."""
    layer: str
    centroids: torch.Tensor                 # [K, C] unit vectors in normalised feature space
    feat_mean: torch.Tensor                 # [C]
    feat_std: torch.Tensor                  # [C]
    contributions: dict                     # styled layer name -> M [K, C_l]
    labels: dict = field(default_factory=dict)   # name -> tuple of cluster ids
    meta: dict = field(default_factory=dict)
    _stacked: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def position_weight(self) -> float:
        """Weight of the appended (y, x) columns; 0 (the paper) for catalogs saved without one."""
        return float(self.meta.get("position_weight", 0.0))

    def check_generator(self, generator) -> None:
        """Refuse a generator that is not the catalog's model (see ``core/identity.py``: same
        architecture and weights within float16 rounding; pivotal-tuned copies pass)."""
        check_same_model(self.meta, generator)

    def cluster_ids(self, label) -> tuple[int, ...]:
        """A label name ('eyes'), or cluster numbers ('3,7' / 3 / [3, 7])."""
        if isinstance(label, int):
            ids = (label,)
        elif isinstance(label, (list, tuple)):
            ids = tuple(int(i) for i in label)
        else:
            text = str(label).strip()
            if text in self.labels:
                ids = tuple(self.labels[text])
            elif re.fullmatch(r"\d+(\s*[,+ ]\s*\d+)*", text):
                ids = tuple(int(t) for t in re.split(r"[,+ ]+", text))
            else:
                known = ", ".join(sorted(self.labels)) or "none yet (use Label Catalog Clusters)"
                raise ValueError(f"unknown catalog label {text!r}; labels: {known}; or give cluster numbers "
                                 f"0..{self.k - 1}")
        bad = [i for i in ids if not 0 <= i < self.k]
        if bad:
            raise ValueError(f"cluster numbers {bad} are outside 0..{self.k - 1}")
        return ids

    def contribution(self, label, layer: str) -> torch.Tensor:
        """M summed over the label's clusters, for one styled layer: [C_l] in [0, 1]."""
        return self.contributions[layer][list(self.cluster_ids(label))].sum(0).clamp(0, 1)

    def stacked_contribution(self, label, layers: tuple) -> torch.Tensor:
        """``contribution`` of several layers as one zero-padded [L, C_max] tensor (cached)."""
        key = (self.cluster_ids(label), layers)
        if key not in self._stacked:
            rows = [self.contribution(label, name) for name in layers]
            out = torch.zeros(len(rows), max(r.shape[0] for r in rows))
            for i, r in enumerate(rows):
                out[i, :r.shape[0]] = r
            self._stacked[key] = out
        return self._stacked[key]

    def with_labels(self, labels: dict) -> "Catalog":
        for name, ids in labels.items():
            self.cluster_ids(list(ids))  # validates the numbers
        return replace(self, labels={**self.labels, **{k: tuple(v) for k, v in labels.items()}})

    def describe(self) -> str:
        lab = "; ".join(f"{k}: {','.join(map(str, v))}" for k, v in self.labels.items()) or "no labels"
        return (f"catalog of {self.meta.get('generator_name', '?')}: layer {self.layer}, K={self.k}, "
                f"N={self.meta.get('n_samples')}, seed {self.meta.get('seed')}"
                + (f", position weight {self.position_weight:g}" if self.position_weight else "") + f"; {lab}")


def parse_labels(text: str) -> dict:
    """'eyes: 3,7; mouth: 5' -> {'eyes': (3, 7), 'mouth': (5,)} (also newlines as separators)."""
    out = {}
    for part in re.split(r"[;\n]+", text):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise ValueError(f"label entry {part!r} must look like 'name: 1,2'")
        name, ids = part.split(":", 1)
        name = name.strip()
        if not re.fullmatch(r"[\w\- ]+", name):
            raise ValueError(f"label name {name!r} may use letters, digits, spaces, '-' and '_' only")
        try:
            out[name] = tuple(int(t) for t in re.split(r"[,\s]+", ids.strip()) if t)
        except ValueError:
            raise ValueError(f"cluster numbers of {name!r} must be integers, got {ids.strip()!r}") from None
        if not out[name]:
            raise ValueError(f"label {name!r} names no clusters")
    return out


def resolve_layer(generator, layer) -> str:
    """'' / None -> the first conv at 32x32 (or the nearest resolution the model has);
    an int or digit string -> the first conv at that resolution; else a layer name."""
    convs = [l for l in generator.layers() if l.kind == "conv"]
    if isinstance(layer, str) and layer.strip() and not layer.strip().isdigit():
        names = {l.name for l in generator.layers() if l.kind in ("conv", "block")}
        if layer.strip() not in names:
            raise ValueError(f"layer {layer!r} is not a conv or block layer of this generator; "
                             f"choose from {sorted(names)}")
        return layer.strip()
    want = DEFAULT_RESOLUTION if layer in (None, "") or str(layer).strip() == "" else int(layer)
    resolutions = sorted({l.resolution for l in convs})
    res = min(resolutions, key=lambda r: (abs(math.log2(r) - math.log2(max(want, 1))), r))
    return next(l.name for l in convs if l.resolution == res)


def _memberships(onehot: torch.Tensor, size, cache: dict) -> torch.Tensor:
    """Cluster one-hots bilinearly resized to ``size`` and flattened: [B, K, h*w] (cached per size)."""
    key = tuple(size)
    if key not in cache:
        u = onehot if tuple(onehot.shape[-2:]) == key else F.interpolate(onehot, size=key, mode="bilinear",
                                                                          align_corners=False)
        cache[key] = u.flatten(2)
    return cache[key]


class _ContributionStats:
    """Streaming sums for one styled layer, so M needs no second look at the activations."""

    def __init__(self, k: int, channels: int):
        z = lambda *s: torch.zeros(*s, dtype=torch.float64)  # noqa: E731
        self.n = 0
        self.w_a, self.w_aa, self.w_1 = z(k, channels), z(k, channels), z(k)

    def add(self, a: torch.Tensor, u: torch.Tensor):
        """a [B, C, h, w] activations, u [B, K, h*w] cluster memberships at a's resolution.

        Bilinear resizing keeps sum_k u = 1 at every position, so the plain sums of a and a^2
        are the cluster-weighted sums added over k.
        """
        a = a.float().flatten(2)                                      # [B, C, P]
        self.n += a.shape[0] * a.shape[2]
        self.w_a += torch.bmm(u, a.transpose(1, 2)).sum(0).double()
        self.w_aa += torch.bmm(u, a.square().transpose(1, 2)).sum(0).double()
        self.w_1 += u.sum(dim=(0, 2)).double()

    def finish(self) -> torch.Tensor:
        mean = self.w_a.sum(0) / self.n
        var = (self.w_aa.sum(0) / self.n - mean.square()).clamp_min(1e-12)
        m = (self.w_aa - 2 * mean * self.w_a + mean.square() * self.w_1[:, None]) / var / self.n
        m = m.clamp_min(0)
        return (m / m.sum(0, keepdim=True).clamp_min(1e-12)).float()


def position_grid(h: int, w: int) -> torch.Tensor:
    """Normalised (y, x) of every position of an h x w map, pixel centres in [-1, 1]: [h*w, 2]."""
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w * 2 - 1
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(h * w, 2)


def _sample_rows(feats: list, mean: torch.Tensor, std: torch.Tensor, count: int, seed: int,
                 position_weight: float = 0.0):
    """A seeded random subset of positions as standardised, unit-length rows [count, C] (to fit k-means);
    with ``position_weight`` > 0, each row gets its position times the weight as two more columns.

    ``feats`` are the batches [n_b, C, h, w] in order; positions are numbered across them, so
    no concatenated copy of all activations is needed.
    """
    c, h, w = feats[0].shape[1:]
    total = sum(f.shape[0] for f in feats) * h * w
    gen = torch.Generator().manual_seed(int(seed) + 7919)
    idx = torch.randperm(total, generator=gen)[:min(count, total)]
    img, pos = idx // (h * w), idx % (h * w)
    rows = torch.empty(len(idx), c)
    first = 0
    for f in feats:
        sel = (img >= first) & (img < first + f.shape[0])
        p = pos[sel]
        rows[sel] = f[img[sel] - first, :, p // w, p % w].float()
        first += f.shape[0]
    rows = (rows - mean) / std
    rows = rows / rows.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if position_weight:
        rows = torch.cat([rows, position_weight * position_grid(h, w)[pos]], dim=1)
    return rows


def _assign_positions(feat: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, centroids: torch.Tensor,
                      position_weight: float = 0.0):
    """Cluster of every position, [N, h, w], without materialising normalised rows.

    argmax_k <(f - mean) / std / |.|, c_k> = argmax_k <f, c_k / std> - <mean / std, c_k>: the row's
    length does not change the winner, so one batched product over the feature maps suffices.
    With position columns the feature part must be unit length before the position term is added
    (the whole row's length still does not matter), so the scores are divided by it then.
    """
    n, c, h, w = feat.shape
    wk = centroids[:, :c] / std                                     # [K, C]
    bias = -(wk * mean).sum(1)                                      # [K]
    flat = feat.float().reshape(n, c, h * w)
    scores = torch.matmul(wk, flat) + bias[:, None]                 # [N, K, h*w]
    if position_weight:
        norm = ((flat - mean[:, None]) / std[:, None]).norm(dim=1).clamp_min(1e-12)    # [N, h*w]
        pos = position_weight * (centroids[:, c:] @ position_grid(h, w).t().to(centroids))   # [K, h*w]
        scores = scores / norm[:, None] + pos
    # a running maximum over k: argmax across the strided K axis is several times slower
    best, labels = scores[:, 0].clone(), torch.zeros(n, h * w, dtype=torch.long, device=feat.device)
    for k in range(1, scores.shape[1]):
        better = scores[:, k] > best                                # strict: ties keep the first, as argmax
        best = torch.where(better, scores[:, k], best)
        labels[better] = k
    return labels.view(n, h, w)


@torch.no_grad()
def build_catalog(generator, n_samples: int = 200, k: int = 10, layer=None, seed: int = 0,
                  truncation_psi: float = 0.7, restarts: int = 3, batch: int = 25, on_step=None,
                  position_weight: float = 0.0) -> Catalog:
    """Sample, cluster one layer, and measure every style channel's part in every cluster.

    ``position_weight`` 0 is the paper; > 0 adds spatial coherence (see the module docstring)."""
    require_w_space(generator, "A semantic catalog")
    if not 2 <= k <= 64:
        raise ValueError("k must be between 2 and 64")
    position_weight = float(position_weight)
    if not 0 <= position_weight <= 100:
        raise ValueError("position_weight must be between 0 and 100")
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1")
    g = generator
    layer = resolve_layer(g, layer)
    lat = sample_latents(g, seed, n_samples, truncation_psi)
    order = {name: i for i, name in enumerate(g.step_names())}
    styled = g.styled_layers()
    inputs = {l.name: g.style_input_tap(l.name) for l in styled}
    early = sorted({t for t in inputs.values() if order[t] < order[layer]}, key=order.get)
    late = sorted({t for t in inputs.values() if order[t] > order[layer]}, key=order.get)
    n_batches = math.ceil(n_samples / batch)
    chunks = [slice(b * batch, (b + 1) * batch) for b in range(n_batches)]
    total = 2 * n_batches + 1
    dev = g.device

    feats, states, batch_styles = [], [], []
    store = None     # tap -> activations of all samples (the early taps on CPU, the clustered layer on dev)
    s1 = s2 = 0.0
    for b, rows in enumerate(chunks):
        styles = g.styles(lat.ws[rows].to(dev))
        batch_styles.append(styles)
        state, out = g.synthesis_partial(styles, until=layer, taps=early + [layer], track_image=False)
        if store is None:   # one buffer per kept tap: measured ~5-10 % faster than 8 batches of tensors each
            store = {t: torch.empty((n_samples,) + tuple(out[t].shape[1:]), dtype=out[t].dtype if t == layer
                                    else torch.float32, device=dev if t == layer else "cpu")
                     for t in early + [layer]}
        for t in early + [layer]:
            store[t][rows].copy_(out[t])
        state = replace(state, x=store[layer][rows])      # resumes from the buffer; the batch's copy is freed
        a = store[layer][rows].float().cpu()
        feats.append(a)
        flat = a.flatten(2)                      # per-channel running sums: no second pass for mean/std
        s1 = s1 + flat.sum(2).sum(0).double()
        s2 = s2 + flat.square().sum(2).sum(0).double()
        del out
        states.append(state)
        if on_step:
            on_step(b + 1, total, None)

    c, h, w = feats[0].shape[1:]
    n, count = n_samples, n_samples * h * w
    mean = s1 / count
    std = ((s2 - count * mean.square()).clamp_min(0) / max(count - 1, 1)).sqrt().float().clamp_min(1e-6)
    mean = mean.float()
    km = spherical_kmeans(_sample_rows(feats, mean, std, FIT_ROWS, seed, position_weight), k, seed=seed,
                          restarts=restarts)
    labels = torch.cat([_assign_positions(f, mean, std, km.centroids, position_weight) for f in feats])
    onehot = torch.zeros(n, k, h, w).scatter_(1, labels[:, None], 1.0)
    if on_step:
        on_step(n_batches + 1, total, None)

    stats = {t: _ContributionStats(k, store[t].shape[1]) for t in early + [layer]}
    for b, rows in enumerate(chunks):
        u, sized = onehot[rows], {}
        for t in early:
            stats[t].add(store[t][rows], _memberships(u, store[t].shape[-2:], sized))
        stats[layer].add(feats[b], _memberships(u, (h, w), sized))
    late_stats = {}
    for b, (state, styles, rows) in enumerate(zip(states, batch_styles, chunks)):
        _, out = g.synthesis_from_styles(styles, taps=late, resume=state, return_image=False)
        u, sized = onehot[rows], {}
        for t in late:
            a = out[t].float().cpu()
            if t not in late_stats:
                late_stats[t] = _ContributionStats(k, a.shape[1])
            late_stats[t].add(a, _memberships(u, a.shape[-2:], sized))
        if on_step:
            on_step(n_batches + 2 + b, total, None)
    stats.update(late_stats)
    contributions = {l.name: stats[inputs[l.name]].finish() for l in styled}
    meta = {**identity_meta(g), "n_samples": n_samples,
            "seed": int(seed), "truncation_psi": float(truncation_psi), "k": k, "layer_resolution": int(h),
            "kmeans_objective_on_fit_rows": km.objective, "fit_rows": min(FIT_ROWS, n * h * w),
            "kmeans_iterations": km.iterations, "restarts": restarts,
            "channels": c}
    if position_weight:   # absent = 0: catalogs built before the option read the same
        meta["position_weight"] = position_weight
    return Catalog(layer=layer, centroids=km.centroids.cpu(), feat_mean=mean, feat_std=std,
                   contributions=contributions, meta=meta)


@torch.no_grad()
def cluster_maps(generator, catalog: Catalog, latents) -> torch.Tensor:
    """Cluster index of every position of the catalog layer: [B, h, w] (int64)."""
    catalog.check_generator(generator)
    styles = latents.styles_for(generator)
    _, out = generator.synthesis_partial(styles, until=catalog.layer, taps=[catalog.layer],
                                         noise=latents.noise_for(generator))
    feat = out[catalog.layer].float().cpu()
    return _assign_positions(feat, catalog.feat_mean, catalog.feat_std, catalog.centroids,
                             catalog.position_weight)


def label_selection(maps: torch.Tensor, ids) -> torch.Tensor:
    """[B, h, w] cluster maps -> float [B, h, w], 1 where a position is in one of the clusters ``ids``."""
    sel = torch.zeros_like(maps, dtype=torch.float32)
    for i in ids:
        sel = sel + (maps == i).float()
    return sel


def label_mask(maps: torch.Tensor, ids, size: int, soft: bool = False) -> torch.Tensor:
    """[B, h, w] cluster maps -> [B, size, size] mask of the given clusters.

    Up-sampled bilinearly; thresholded at 0.5 unless ``soft``.
    """
    up = F.interpolate(label_selection(maps, ids)[:, None], size=(size, size), mode="bilinear",
                       align_corners=False)[:, 0]
    return up.clamp(0, 1) if soft else (up > 0.5).float()


@torch.no_grad()
def catalog_mask(generator, catalog: Catalog, latents, label, soft: bool = False) -> torch.Tensor:
    """MASK [B, H, W] (image size) of a label's clusters in each latent's image."""
    maps = cluster_maps(generator, catalog, latents)
    return label_mask(maps, catalog.cluster_ids(label), generator.resolution, soft)


def soft_memberships(catalog: Catalog, feat: torch.Tensor, temperature: float = 10.0) -> torch.Tensor:
    """Soft cluster memberships [B, K, h, w] of activations [B, C, h, w] of the catalog's layer.

    Only the features decide (the position columns, if any, are left out): a softmax over the cosine
    similarities to the centroids' feature parts, so the result says which part a position shows
    wherever it sits in the image (the deformable matcher's identity-invariant channels).
    """
    n, c, h, w = feat.shape
    cent = F.normalize(catalog.centroids[:, :c].float(), dim=1).to(feat.device)
    mean, std = catalog.feat_mean.to(feat.device)[:, None], catalog.feat_std.to(feat.device)[:, None]
    rows = F.normalize((feat.float().reshape(n, c, h * w) - mean) / std, dim=1)
    return torch.softmax(temperature * (cent @ rows), dim=1).view(n, -1, h, w)
