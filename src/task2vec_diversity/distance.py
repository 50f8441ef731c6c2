"""The Task2Vec "cosine" distance (METHOD.md section 3), vectorised over pairs.

    u = h_a / (h_a + h_b + 1e-8),  v = h_b / (h_a + h_b + 1e-8)
    d(a, b) = 1 - <u, v> / (|u| |v|)

The normalisation depends on the pair, so the matrix is not a Gram matrix: every row is
computed against a block of columns at once, in float64, in blocks that bound memory.
"""

from __future__ import annotations

import numpy as np
import torch

EPS = 1e-8


def cosine_distance(h_a: np.ndarray, h_b: np.ndarray, eps: float = EPS) -> float:
    """The distance of one pair, straight from the formula."""
    h_a = np.asarray(h_a, dtype=np.float64)
    h_b = np.asarray(h_b, dtype=np.float64)
    total = h_a + h_b + eps
    u, v = h_a / total, h_b / total
    return float(1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def distance_matrix(
    a: np.ndarray, b: np.ndarray | None = None, eps: float = EPS, block_bytes: int = 256 * 2**20
) -> np.ndarray:
    """All distances between the rows of ``a`` and the rows of ``b`` (``b`` = ``a`` when
    omitted, then only the upper triangle is computed and mirrored; the diagonal is 0)."""
    symmetric = b is None
    ha = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    hb = ha if symmetric else torch.as_tensor(np.asarray(b), dtype=torch.float64)
    n, m, dim = ha.shape[0], hb.shape[0], ha.shape[1]
    if hb.shape[1] != dim:
        raise ValueError(f"embeddings differ in length: {dim} and {hb.shape[1]}")
    out = torch.zeros((n, m), dtype=torch.float64)
    cols = max(1, block_bytes // (8 * 4 * dim))
    for i in range(n):
        first = i + 1 if symmetric else 0
        for start in range(first, m, cols):
            block = hb[start : start + cols]
            total = ha[i] + block + eps
            u = ha[i] / total
            v = block / total
            out[i, start : start + len(block)] = 1.0 - (u * v).sum(1) / (u.norm(dim=1) * v.norm(dim=1))
    if symmetric:
        out = out + out.T
    return out.numpy()


def upper_triangle(matrix: np.ndarray) -> np.ndarray:
    """The N(N-1)/2 distances of pairs i < j, zeros included."""
    return matrix[np.triu_indices(matrix.shape[0], k=1)]


def pooled_matrix(members: list[str], matrices: dict) -> np.ndarray:
    """The distance matrix of a pool of datasets' batches, from each member's own matrix
    ``matrices[(a, a)]`` and the cross matrices ``matrices[(a, b)]`` (either order)."""
    rows = []
    for a in members:
        row = []
        for b in members:
            row.append(matrices[(a, b)] if (a, b) in matrices else matrices[(b, a)].T)
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
