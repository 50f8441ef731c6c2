"""The noise floor of the Task2Vec estimator: how far apart two embeddings of the SAME batch
are when only the seed differs (dropout masks and the Monte-Carlo Fisher targets; the
documents, their order and the probe are the same).

A dataset's first ``noise_floor.batches`` batches are embedded again ``noise_floor.seeds``
times. Re-embedding r (1, 2, ...) of batch i uses seed ``task2vec.seed + i + r * SEED_STRIDE``
(the batch's own embedding, r = 0, uses ``task2vec.seed + i``), so no re-embedding shares a
seed with any batch of a dataset of fewer than SEED_STRIDE batches.

- ``noise_floor``: the mean distance between the embeddings of one batch (its own and its
  re-embeddings: (seeds + 1) seeds / 2 pairs per batch), averaged over the noise batches; its
  interval is a percentile bootstrap over those batches.
- ``diversity_above_noise`` = diversity - noise_floor, and ``noise_share`` = noise_floor /
  diversity: the part of the coefficient that two embeddings of one and the same batch already
  score. Its interval resamples the dataset's batches (for the diversity) and the noise
  batches (for the floor) independently.
- For a pair of datasets (cross diversity, alignment) the reference is the mean of the two
  floors: ``cross_diversity_above_noise`` = cross diversity - (floor_a + floor_b) / 2.

Distances are computed here in float64 as d = 1/2 |U - V|^2 with U = u / |u|, V = v / |v|
(u, v the pair-normalised vectors of docs/method.md#distance), which equals 1 - <U, V>: identical
embeddings give exactly 0.
"""

from __future__ import annotations

import numpy as np

from .coefficients import bootstrap_means

SEED_STRIDE = 1_000_000
EPS = 1e-8


def repeat_seed(seed: int, repeat: int) -> int:
    """The base seed of re-embedding ``repeat`` (0: the batch's own embedding)."""
    return seed + repeat * SEED_STRIDE


def unit_pair(h_a: np.ndarray, h_b: np.ndarray, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """(U, V): the pair-normalised vectors u = h_a / (h_a + h_b + eps), v = h_b / (...),
    each scaled to unit length, in float64. Rows of 2-d inputs are pairs."""
    h_a = np.asarray(h_a, dtype=np.float64)
    h_b = np.asarray(h_b, dtype=np.float64)
    total = h_a + h_b + eps
    u, v = h_a / total, h_b / total
    return (
        u / np.linalg.norm(u, axis=-1, keepdims=True),
        v / np.linalg.norm(v, axis=-1, keepdims=True),
    )


def pair_distance(h_a: np.ndarray, h_b: np.ndarray, eps: float = EPS) -> float:
    """d(a, b) = 1/2 |U - V|^2 (= 1 - <U, V>); exactly 0 for identical embeddings."""
    big_u, big_v = unit_pair(h_a, h_b, eps)
    return float(0.5 * np.sum((big_u - big_v) ** 2))


def noise_distances(embeddings: np.ndarray) -> np.ndarray:
    """``embeddings`` [batches, seeds + 1, dim] (index 0 of axis 1: the batch's own
    embedding) -> [batches, pairs]: the distance of every pair of embeddings of one batch."""
    n_batches, n_seeds = embeddings.shape[:2]
    if n_seeds < 2:
        raise ValueError("a noise floor needs at least two embeddings of each batch")
    pairs = [(r, s) for r in range(n_seeds) for s in range(r + 1, n_seeds)]
    return np.array([[pair_distance(embeddings[i, r], embeddings[i, s]) for r, s in pairs] for i in range(n_batches)])


def _percentiles(values: np.ndarray) -> tuple[float, float]:
    low, high = np.nanquantile(values, [0.025, 0.975])
    return float(low), float(high)


def floor_bootstrap(distances: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """Bootstrap replicates of the noise floor: the noise batches resampled with replacement."""
    rng = np.random.default_rng(seed)
    per_batch = distances.mean(axis=1)
    draws = rng.integers(0, len(per_batch), size=(replicates, len(per_batch)))
    return per_batch[draws].mean(axis=1)


def noise_columns(distances: np.ndarray | None, matrix: np.ndarray | None, replicates: int, seed: int) -> dict:
    """The noise-floor columns of a dataset's row: its floor with an interval and how much
    of its diversity (from its own distance matrix) it accounts for. NaN without a floor."""
    nan = float("nan")
    if distances is None or distances.size == 0:
        return dict.fromkeys(NOISE_COLUMNS, nan) | {"n_noise_batches": 0, "n_noise_distances": 0}
    floor = float(distances.mean())
    boot = floor_bootstrap(distances, replicates, seed + 1)
    out = {
        "noise_floor": floor,
        "noise_floor_ci95_low": _percentiles(boot)[0],
        "noise_floor_ci95_high": _percentiles(boot)[1],
        "n_noise_batches": distances.shape[0],
        "n_noise_distances": distances.size,
    }
    if matrix is None:
        return {**dict.fromkeys(NOISE_COLUMNS, nan), **out}
    diversity = float(matrix[np.triu_indices(len(matrix), k=1)].mean())
    excess = bootstrap_means(matrix, replicates, seed, square=True) - boot
    low, high = _percentiles(excess)
    return {
        **out,
        "noise_share": floor / diversity if diversity > 0 else nan,
        "diversity_above_noise": diversity - floor,
        "diversity_above_noise_ci95_low": low,
        "diversity_above_noise_ci95_high": high,
    }


def cross_noise_columns(
    matrix: np.ndarray, floor_a: np.ndarray | None, floor_b: np.ndarray | None, replicates: int, seed: int, square: bool
) -> dict:
    """Cross diversity of two datasets against their noise floors: the mean of the two floors
    is subtracted; its interval resamples both sets' batches and both sets' noise batches."""
    nan = float("nan")
    if floor_a is None or floor_b is None or floor_a.size == 0 or floor_b.size == 0:
        return dict.fromkeys(CROSS_NOISE_COLUMNS, nan)
    reference = (floor_a.mean() + floor_b.mean()) / 2
    boot = bootstrap_means(matrix, replicates, seed, square=square)
    boot_floor = (floor_bootstrap(floor_a, replicates, seed + 1) + floor_bootstrap(floor_b, replicates, seed + 2)) / 2
    cross = matrix[np.triu_indices(len(matrix), k=1)].mean() if square else matrix.mean()
    low, high = _percentiles(boot - boot_floor)
    return {
        "noise_floor_train": float(floor_a.mean()),
        "noise_floor_eval": float(floor_b.mean()),
        "cross_diversity_above_noise": float(cross - reference),
        "cross_diversity_above_noise_ci95_low": low,
        "cross_diversity_above_noise_ci95_high": high,
    }


NOISE_COLUMNS = [
    "noise_floor",
    "noise_floor_ci95_low",
    "noise_floor_ci95_high",
    "noise_share",
    "diversity_above_noise",
    "diversity_above_noise_ci95_low",
    "diversity_above_noise_ci95_high",
    "n_noise_batches",
    "n_noise_distances",
]
CROSS_NOISE_COLUMNS = [
    "noise_floor_train",
    "noise_floor_eval",
    "cross_diversity_above_noise",
    "cross_diversity_above_noise_ci95_low",
    "cross_diversity_above_noise_ci95_high",
]
