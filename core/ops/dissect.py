"""GAN Dissection without a segmenter: rank a layer's units per concept by IoU.

A unit is "on" where its activation, up-sampled to the mask resolution, exceeds its 0.99 quantile
over all positions of N samples (Bau et al. 2019). Its IoU with a concept is
sum(on & concept) / sum(on | concept) over the N samples. Concept masks come from a catalog's
labels (Catalog Mask: the faces64 catalog knows eyes / nose / mouth) or from MASKs given per
sample. The result, a ``UnitTable``, carries the ranking, the IoUs and the per-unit quantiles
(GANPaint's 'draw' values), tied to its generator like a catalog.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from ..errors import IncompatibleInputError
from ..identity import check_same_model, identity_meta
from .featuremap import check_feature_layer, codes_for, run_to
from .generate import sample_latents

QUANTILE = 0.99
STRENGTHS = {"low": 4, "medium": 10, "high": 15}


@dataclass
class UnitTable:
    """concept -> units ranked by IoU (best first) at ``layer``; ``quantiles[c]`` = unit c's draw value."""
    layer: str
    quantiles: torch.Tensor                 # [C]
    ranking: dict                           # concept -> LongTensor [C]
    iou: dict                               # concept -> FloatTensor [C] (in ranking order)
    meta: dict = field(default_factory=dict)

    @property
    def concepts(self) -> list[str]:
        return list(self.ranking)

    def check_generator(self, generator) -> None:
        check_same_model(self.meta, generator, what="this unit table")

    def units(self, concept: str, count) -> torch.Tensor:
        """The top ``count`` units of ``concept`` (count: int or 'low' / 'medium' / 'high')."""
        if concept not in self.ranking:
            raise IncompatibleInputError(f"the unit table has no concept {concept!r}; it has: "
                                         f"{', '.join(self.concepts) or 'none'}")
        if isinstance(count, str):
            if count not in STRENGTHS:
                raise ValueError(f"strength must be one of {list(STRENGTHS)} or a unit count, got {count!r}")
            return self.ranking[concept][:STRENGTHS[count]]      # all units when the layer has fewer
        n = int(count)
        if not 1 <= n <= len(self.quantiles):
            raise ValueError(f"unit count must be in 1..{len(self.quantiles)}, got {n}")
        return self.ranking[concept][:n]

    def describe(self, top: int = 5) -> str:
        lines = [f"units of {self.layer} ({len(self.quantiles)} units, {self.meta.get('n_samples', '?')} samples)"]
        for c in self.concepts:
            best = ", ".join(f"{int(u)} ({float(v):.3f})" for u, v in zip(self.ranking[c][:top], self.iou[c][:top]))
            lines.append(f"{c}: {best}; IoU of unit 4/10/15: " + " / ".join(
                f"{float(self.iou[c][n - 1]):.3f}" for n in STRENGTHS.values() if n <= len(self.iou[c])))
        return "\n".join(lines)


@torch.no_grad()
def layer_features(generator, latents, layer: str, batch: int = 25, on_step=None) -> torch.Tensor:
    """[N, C, h, w] features of ``layer`` (CPU, float32), computed in batches."""
    codes = codes_for(generator, latents)
    out, n = [], codes.batch_size
    for start in range(0, n, batch):
        _, x = run_to(generator, codes.select(slice(start, start + batch)), layer, image=False)
        out.append(x.float().cpu())
        if on_step is not None:
            on_step(min(start + batch, n), n, None)
    return torch.cat(out)


def unit_quantiles(feats: torch.Tensor, q: float = QUANTILE) -> torch.Tensor:
    """Per-unit q-quantile over every sample and position: [C]."""
    c = feats.shape[1]
    flat = feats.transpose(0, 1).reshape(c, -1)
    k = max(1, int(round(q * (flat.shape[1] - 1))) + 1)
    return flat.kthvalue(k, dim=1).values


def unit_iou(feats: torch.Tensor, quantiles: torch.Tensor, masks: dict, batch: int = 16) -> dict:
    """concept -> [C] IoU of each unit's thresholded, up-sampled activation with the concept masks [N, H, W]."""
    n, c = feats.shape[:2]
    size = next(iter(masks.values())).shape[-2:]
    inter = {k: torch.zeros(c) for k in masks}
    union = {k: torch.zeros(c) for k in masks}
    thr = quantiles.view(1, c, 1, 1)
    for start in range(0, n, batch):
        up = F.interpolate(feats[start:start + batch], size=size, mode="bilinear", align_corners=False)
        on = (up > thr).float()
        area = on.sum(dim=(0, 2, 3))
        for k, m in masks.items():
            mk = (m[start:start + batch] > 0.5).float().unsqueeze(1)
            i = (on * mk).sum(dim=(0, 2, 3))
            inter[k] += i
            union[k] += area + mk.sum() - i
    return {k: inter[k] / union[k].clamp_min(1e-8) for k in masks}


def dissect(generator, layer: str, masks: dict, latents, batch: int = 25, on_step=None) -> UnitTable:
    """Rank ``layer``'s units for each concept of ``masks`` (name -> [N, H, W] masks of ``latents``)."""
    check_feature_layer(generator, layer)
    n = latents.batch_size
    for name, m in masks.items():
        if m.ndim != 3 or m.shape[0] != n:
            raise ValueError(f"the masks of {name!r} must be [N={n}, H, W] (one per sample), got {list(m.shape)}")
        if not (m > 0.5).any():
            raise ValueError(f"the masks of {name!r} are empty: nothing to compare the units with")
    feats = layer_features(generator, latents, layer, batch, on_step)
    q = unit_quantiles(feats)
    ious = unit_iou(feats, q, {k: v.float().cpu() for k, v in masks.items()})
    ranking, ranked_iou = {}, {}
    for k, v in ious.items():
        order = torch.argsort(v, descending=True, stable=True)
        ranking[k], ranked_iou[k] = order, v[order]
    meta = {**identity_meta(generator), "n_samples": n, "quantile": QUANTILE}
    meta.update({k: v for k, v in latents.source.items() if k in ("seed", "truncation_psi")})
    return UnitTable(layer=layer, quantiles=q, ranking=ranking, iou=ranked_iou, meta=meta)


def dissect_with_catalog(generator, catalog, labels, layer: str, n_samples: int = 200, seed: int = 0,
                         truncation_psi: float = 0.7, batch: int = 25, on_step=None) -> UnitTable:
    """Dissect on N seeded samples with concept masks from a catalog's labels (Catalog Mask)."""
    from .catalog import catalog_mask
    if n_samples < 2:
        raise ValueError("n_samples must be at least 2")
    labels = list(labels) or list(catalog.labels)
    if not labels:
        raise ValueError("the catalog has no labels; label its clusters first (Label Catalog Clusters)")
    latents = sample_latents(generator, seed, n_samples, truncation_psi)
    masks = {}
    for lab in labels:
        masks[lab] = torch.cat([catalog_mask(generator, catalog, latents.select(slice(s, s + batch)), lab)
                                for s in range(0, n_samples, batch)])
    table = dissect(generator, layer, masks, latents, batch, on_step)
    table.meta["masks"] = "catalog"
    return table
