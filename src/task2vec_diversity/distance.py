"""The Task2Vec "cosine" distance (docs/method.md#distance), vectorised over pairs.

    u = h_a / (h_a + h_b + 1e-8),  v = h_b / (h_a + h_b + 1e-8)
    d(a, b) = 1 - <u, v> / (|u| |v|)

The normalisation depends on the pair, so the matrix is not a Gram matrix. With
q = 1 / (h_a + h_b + eps)^2 it needs three sums per pair, <h_a h_b, q>, <h_a^2, q> and
<h_b^2, q>; they are computed for a tile of rows x columns x dimensions at a time, in one
buffer of ``block_bytes`` allocated once and reused by every tile (16 MiB on a CPU, which sits
in the cache: smaller tiles pay the per-call cost of the tensor operations, larger ones and a
fresh buffer per tile pay memory traffic and page faults; docs/performance.md), accumulated
over the dimension chunks in float64, so memory stays bounded for any number of embeddings.
float32 tiles keep the distances within 1e-7 or so of float64 (benchmarks/distance.py
measures it); ``dtype`` can ask for float64 throughout.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .paths import pair

if TYPE_CHECKING:
    import torch

EPS = 1e-8
CHUNK = 4096  # dimensions per tile


def cosine_distance(h_a: np.ndarray, h_b: np.ndarray, eps: float = EPS) -> float:
    """The distance of one pair, straight from the formula."""
    h_a = np.asarray(h_a, dtype=np.float64)
    h_b = np.asarray(h_b, dtype=np.float64)
    total = h_a + h_b + eps
    u, v = h_a / total, h_b / total
    return float(1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _tile_distances(a: torch.Tensor, b: torch.Tensor, eps: float, chunk: int, buffer: torch.Tensor) -> torch.Tensor:
    """Distances between the rows of ``a`` [I, D] and ``b`` [J, D], as float64 [I, J];
    ``buffer`` holds at least I x J x ``chunk`` values."""
    import torch

    ab = torch.zeros((len(a), len(b)), dtype=torch.float64, device=a.device)
    aa, bb = torch.zeros_like(ab), torch.zeros_like(ab)
    for start in range(0, a.shape[1], chunk):
        x, y = a[:, start : start + chunk], b[:, start : start + chunk]
        q = buffer[: len(x) * len(y) * x.shape[1]].view(len(x), len(y), x.shape[1])
        torch.add((x + eps)[:, None, :], y[None, :, :], out=q).pow_(-2)  # [I, J, chunk]
        aa += torch.einsum("id,ijd->ij", x * x, q)
        bb += torch.einsum("jd,ijd->ij", y * y, q)
        ab += torch.einsum("jd,ijd->ij", y, q.mul_(x[:, None, :]))
    return 1.0 - ab / (aa * bb).sqrt()


def distance_matrix(
    a: np.ndarray,
    b: np.ndarray | None = None,
    eps: float = EPS,
    block_bytes: int | None = None,
    dtype: torch.dtype | None = None,
    device: str | None = None,
) -> np.ndarray:
    """All distances between the rows of ``a`` and the rows of ``b`` (``b`` = ``a`` when
    omitted, then only tiles on or above the diagonal are computed and mirrored; the
    diagonal is 0). ``device`` defaults to CUDA when present; ``block_bytes`` bounds the
    tile buffer (default 16 MiB on a CPU, 256 MiB on a GPU); ``dtype`` of the tiles defaults
    to float32. torch is imported here only: the report, which reads matrices, does not need it."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    symmetric = b is None
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if block_bytes is None:
        block_bytes = 256 * 2**20 if device.startswith("cuda") else 16 * 2**20
    ha = torch.as_tensor(np.asarray(a)).to(device=device, dtype=dtype)
    hb = ha if symmetric else torch.as_tensor(np.asarray(b)).to(device=device, dtype=dtype)
    n, m, dim = ha.shape[0], hb.shape[0], ha.shape[1]
    if hb.shape[1] != dim:
        raise ValueError(f"embeddings differ in length: {dim} and {hb.shape[1]}")
    chunk = min(dim, CHUNK)
    pairs = max(1, block_bytes // (ha.element_size() * chunk))  # pairs per tile
    rows = min(n, max(1, math.isqrt(pairs) // 2))
    cols = min(m, max(1, pairs // rows))
    buffer = torch.empty(rows * cols * chunk, dtype=dtype, device=device)
    out = torch.zeros((n, m), dtype=torch.float64, device=device)
    for i in range(0, n, rows):
        for j in range(i if symmetric else 0, m, cols):
            out[i : i + rows, j : j + cols] = _tile_distances(ha[i : i + rows], hb[j : j + cols], eps, chunk, buffer)
    if symmetric:
        out = torch.triu(out, diagonal=1)
        out = out + out.T
    return out.cpu().numpy()


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
            row.append(pair(matrices, a, b))
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
