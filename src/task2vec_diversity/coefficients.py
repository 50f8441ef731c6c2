"""Diversity coefficient and its intervals (docs/method.md#coefficients-and-intervals)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from .distance import upper_triangle


@dataclass(frozen=True)
class Coefficient:
    value: float  # mean distance over pairs
    n_pairs: int
    std: float  # std of the pairwise distances (ddof=1)
    ci95_paper: float  # Student-t half-width treating pairs as independent (the paper's "+-")
    ci95: float  # half-width of the bootstrap-over-batches 95% percentile interval
    ci95_low: float
    ci95_high: float


def paper_half_width(distances: np.ndarray) -> float:
    """t(0.975, n-1) * std(ddof=1) / sqrt(n) over the n distances, as the paper printed it."""
    n = len(distances)
    if n < 2:
        return float("nan")
    return float(stats.t.ppf(0.975, n - 1) * np.std(distances, ddof=1) / np.sqrt(n))


def _resample(rng, n: int, replicates: int, groups=None) -> np.ndarray:
    """How often each of n batches is drawn in each replicate; with ``groups`` (sizes of
    consecutive groups, e.g. the datasets of a pool) each group is resampled on its own."""
    sizes = [n] if groups is None else list(groups)
    if sum(sizes) != n:
        raise ValueError(f"group sizes {sizes} do not add up to {n} batches")
    return np.concatenate([rng.multinomial(k, np.full(k, 1.0 / k), size=replicates) for k in sizes], axis=1).astype(
        np.float64
    )


def _distinct_pair_means(rows: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Mean distance over the pairs of each resample of one set of batches (counts ``rows``),
    pairs of two copies of one batch left out; NaN for a resample that drew one batch only."""
    weighted = np.einsum("ri,ij,rj->r", rows, matrix, rows) - (rows**2) @ np.diagonal(matrix)
    pairs = rows.sum(1) ** 2 - (rows**2).sum(1)
    return np.divide(weighted, pairs, out=np.full(len(rows), np.nan), where=pairs > 0)


def bootstrap_means(matrix: np.ndarray, replicates: int, seed: int, square: bool, groups=None) -> np.ndarray:
    """Mean pairwise distance of bootstrap resamples of the batches.

    ``square``: one set of batches (diversity), pairs of the same original batch drawn twice
    are left out. ``groups`` (a pool: sizes of its datasets' consecutive blocks of batches)
    resamples each dataset's batches on its own and estimates each block of the matrix on its
    own (a dataset's own pairs as above, two datasets' cross pairs all of them), then weighs
    the blocks by their numbers of pairs in the pool, as the pool's coefficient does. Otherwise
    rows and columns are two sets (cross diversity) resampled independently.
    """
    rng = np.random.default_rng(seed)
    n, m = matrix.shape
    rows = _resample(rng, n, replicates, groups if square else None)
    if not square:
        cols = _resample(rng, m, replicates)
        return np.einsum("ri,ij,rj->r", rows, matrix, cols) / (n * m)
    if groups is None or len(groups) == 1:
        return _distinct_pair_means(rows, matrix)
    edges = np.cumsum([0, *groups])
    blocks = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]
    total, pairs = np.zeros(replicates), 0
    for g, a in enumerate(blocks):
        k = a.stop - a.start
        if k > 1:  # a dataset's own pairs: k (k - 1) / 2 of them in the pool
            total += k * (k - 1) / 2 * _distinct_pair_means(rows[:, a], matrix[a, a])
            pairs += k * (k - 1) // 2
        for b in blocks[g + 1 :]:  # two datasets' pairs: all k x l of them (the draws' k x l)
            total += np.einsum("ri,ij,rj->r", rows[:, a], matrix[a, b], rows[:, b])
            pairs += k * (b.stop - b.start)
    return total / pairs


def coefficient(
    matrix: np.ndarray, replicates: int = 2000, seed: int = 0, square: bool = True, groups=None
) -> Coefficient:
    """Mean distance with both intervals. ``square``: a dataset's own N x N matrix (pairs
    i < j), or a pool's, whose datasets' sizes are ``groups``; otherwise a cross matrix
    between two datasets (all pairs)."""
    distances = upper_triangle(matrix) if square else matrix.ravel()
    if len(distances) == 0:
        raise ValueError("a coefficient needs at least two batches")
    boot = bootstrap_means(matrix, replicates, seed, square, groups)
    low, high = np.nanquantile(boot, [0.025, 0.975])
    return Coefficient(
        value=float(distances.mean()),
        n_pairs=len(distances),
        std=float(np.std(distances, ddof=1)) if len(distances) > 1 else float("nan"),
        ci95_paper=paper_half_width(distances),
        ci95=float((high - low) / 2),
        ci95_low=float(low),
        ci95_high=float(high),
    )
