"""Spherical k-means in torch: cosine assignment, unit centroids, k-means++ seeding, restarts.

Written for tens of millions of vectors: assignments are computed in chunks so only
``chunk x K`` similarities exist at once, and seeding runs on a bounded subsample.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class KMeansResult:
    centroids: torch.Tensor      # [K, C], unit rows
    labels: torch.Tensor         # [N] int64
    objective: float             # mean cosine similarity to the assigned centroid (higher = tighter)
    iterations: int


def assign(x: torch.Tensor, centroids: torch.Tensor, chunk: int = 65536):
    """Nearest centroid by cosine for unit rows ``x``; returns (labels, best similarity)."""
    labels = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    best = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    for s in range(0, x.shape[0], chunk):
        sim = centroids @ x[s:s + chunk].t()           # [K, chunk]: faster than the skinny [chunk, K] product
        best[s:s + chunk], labels[s:s + chunk] = sim.max(dim=0)
    return labels, best


def _update(x, labels, k, old):
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device)
    sums.index_add_(0, labels, x)
    counts = torch.bincount(labels, minlength=k)
    new = F.normalize(sums, dim=1)
    empty = counts == 0
    if empty.any():  # keep an empty cluster where it was rather than inventing one
        new[empty] = old[empty]
    return new


def _lloyd(x, cents, max_iter, tol):
    """Alternate assignment and centroid updates until the mean similarity stops improving."""
    prev = -2.0
    for it in range(1, max_iter + 1):
        labels, sim = assign(x, cents)
        objective = sim.mean().item()
        if objective - prev < tol:
            break
        prev = objective
        cents = _update(x, labels, cents.shape[0], cents)
    return cents, objective, it


def kmeanspp(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding with cosine distance (1 - cos) on unit rows."""
    n = x.shape[0]
    first = int(torch.randint(n, (1,), generator=gen))
    cents = [x[first]]
    dist = (1 - x @ x[first]).clamp_min(0)
    for _ in range(1, k):
        total = dist.sum()
        if total <= 0:
            idx = int(torch.randint(n, (1,), generator=gen))
        else:
            idx = int(torch.multinomial(dist / total, 1, generator=gen))
        cents.append(x[idx])
        dist = torch.minimum(dist, (1 - x @ x[idx]).clamp_min(0))
    return torch.stack(cents)


def spherical_kmeans(x: torch.Tensor, k: int, seed: int = 0, restarts: int = 4, max_iter: int = 100,
                     tol: float = 1e-4, fit_sample: int = 16384, seed_sample: int = 4096) -> KMeansResult:
    """Cluster the rows of ``x`` (any norm; they are unit-normalised here).

    Each restart seeds with k-means++ on ``seed_sample`` rows and runs Lloyd iterations on a
    random subset of ``fit_sample`` rows (all rows when there are fewer); the restart with
    the highest mean cosine similarity wins and every row is assigned to its centroids.
    Iterations stop when the mean similarity improves by less than ``tol``. Deterministic
    for a given seed.
    """
    if x.ndim != 2 or x.shape[0] < k:
        raise ValueError(f"need at least k={k} vectors of shape [N, C], got {list(x.shape)}")
    x = x.float()
    if not torch.allclose(x.norm(dim=1), torch.ones(1), atol=1e-4):   # every row, not a prefix
        x = F.normalize(x, dim=1)
    gen = torch.Generator().manual_seed(int(seed))

    def subset(rows, size):
        if rows.shape[0] <= size:
            return rows
        return rows[torch.randperm(rows.shape[0], generator=gen)[:size].to(rows.device)]

    fit = subset(x, fit_sample)
    best = None
    for _ in range(max(1, restarts)):
        cents = kmeanspp(subset(fit, seed_sample), k, gen)
        cents, objective, iters = _lloyd(fit, cents, max_iter, tol)
        if best is None or objective > best[1]:
            best = (cents, objective, iters)
    # The fit subset is a large random sample: its centroids are final; all rows are then assigned.
    cents, _, iters = best
    labels, sim = assign(x, cents)
    return KMeansResult(cents, labels, sim.mean().item(), iters)
