"""Distance matrices at the paper's sizes, against the formula, with time and peak memory.

    python benchmarks/distance.py                  # 200 x 200 pairwise, a slice of the 3,000 cross matrix
    python benchmarks/distance.py --scaling 50,100,200

Embeddings are synthetic but shaped like GPT-2 Fisher embeddings: 134,993 non-negative
values spread over 1e-8 .. 1e-4 (a log-normal scale per dimension shared by all batches,
times a log-normal factor per batch), so the 1e-8 of the distance matters as it does there.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/embedding.py

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "src"), str(ROOT)]

from memory import PeakMemory  # noqa: E402

from task2vec_diversity.distance import cosine_distance, distance_matrix  # noqa: E402


def embeddings(n: int, dim: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.standard_normal(dim, dtype=np.float32) * 1.5 + np.log(1e-6, dtype=np.float32)
    out = rng.standard_normal((n, dim), dtype=np.float32)
    out *= 0.7
    out += scale
    return np.exp(out, out=out)


def max_error(matrix, a, b, pairs, rng, symmetric) -> float:
    """Largest |d - formula in float64| over ``pairs`` random pairs (off the diagonal if symmetric)."""
    rows, cols = rng.integers(0, len(a), pairs), rng.integers(0, len(b), pairs)
    return max(abs(matrix[i, j] - cosine_distance(a[i], b[j])) for i, j in zip(rows, cols) if not symmetric or i != j)


def timed(fn, device, repeats=1):
    times = []
    with PeakMemory(device) as peak:
        for _ in range(repeats):
            start = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - start)
    return result, statistics.median(times), peak


def pairwise(args, rng):
    h = embeddings(args.n, args.dim)
    matrices = {}
    for dtype in (torch.float32, torch.float64):
        matrix, seconds, peak = timed(
            lambda dtype=dtype: distance_matrix(h, dtype=dtype, device=args.device), args.device, args.repeats
        )
        err = max_error(matrix, h, h, 100, rng, symmetric=True)
        print(
            f"pairwise {args.n} x {args.n} ({dtype}): {seconds:.2f} s (median of {args.repeats}), "
            f"max |error| vs float64 formula {err:.1e} (100 pairs), {peak.label}"
        )
        matrices[dtype] = matrix
    diff = np.abs(matrices[torch.float32] - matrices[torch.float64]).max()
    print(f"float32 vs float64 tiles, whole matrix: max |difference| {diff:.1e}")


def cross(args, rng):
    pool = embeddings(args.cross, args.dim, seed=2)
    rows = args.cross if args.device.startswith("cuda") else args.cross_rows
    matrix, seconds, peak = timed(lambda: distance_matrix(pool[:rows], pool, device=args.device), args.device)
    err = max_error(matrix, pool[:rows], pool, 20, rng, symmetric=False)
    print(
        f"cross {rows} x {args.cross}: {seconds:.2f} s, max |error| {err:.1e}, {peak.label} "
        f"(the {args.cross} embeddings themselves: {pool.nbytes / 2**20:.0f} MiB)"
    )
    if rows < args.cross:
        pairs = args.cross * (args.cross - 1) / 2
        print(
            f"extrapolated, not measured: the symmetric {args.cross} x {args.cross} matrix ({pairs:.0f} pairs) "
            f"would take {seconds / (rows * args.cross) * pairs / 60:.0f} min here"
        )


def scaling(args, sizes):
    h = embeddings(max(sizes), args.dim)
    for n in sizes:
        _, seconds, _ = timed(lambda n=n: distance_matrix(h[:n], device=args.device), args.device, args.repeats)
        pairs = n * (n - 1) // 2
        print(f"{n:5d} embeddings, {pairs:6d} pairs: {seconds:6.2f} s, {seconds / pairs * 1e6:6.1f} us per pair")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dim", type=int, default=134_993)
    parser.add_argument("--n", type=int, default=200, help="embeddings of the pairwise matrix")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cross", type=int, default=3000, help="embeddings of the cross matrix (15 x 200)")
    parser.add_argument("--cross-rows", type=int, default=40, help="rows of the cross matrix timed on a CPU")
    parser.add_argument("--scaling", default="", help="comma-separated numbers of embeddings, e.g. 50,100,200")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} threads"
    print(f"embeddings of {args.dim} values; {where}; load average {os.getloadavg()[0]:.1f}")
    if args.scaling:
        scaling(args, [int(n) for n in args.scaling.split(",")])
        return
    rng = np.random.default_rng(1)
    pairwise(args, rng)
    cross(args, rng)


if __name__ == "__main__":
    main()
