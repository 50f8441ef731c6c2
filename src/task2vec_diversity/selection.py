"""Data selection by alignment: rank candidate sources (and their batches) by alignment to a
target evaluation set, and propose mixture weights that maximise alignment while keeping the
mixture's diversity above a floor. Reuses the distance matrices already computed; no new
embeddings.

With D[i, j] the mean distance between a batch of source i and a batch of source j (D[i, i] =
diversity of i, the mean over its pairs of distinct batches; D[i, j] = cross diversity), the
expected distance between two distinct batches drawn from the mixture w (each batch from one
source, as in a concatenated pool) is w^T D w, and the mixture's alignment to the target is
sum_i w_i a_i with a_i = 1 - cross diversity(i, target). The weights maximise the alignment
subject to w^T D w >= floor on the simplex (SLSQP from every vertex, the centre and random
points; the best feasible end point is kept).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from .distance import pooled_matrix, upper_triangle
from .errors import DataError
from .paths import pair
from .sources import mix_counts

FEASIBLE = 1e-9  # slack on the diversity floor


def mean_distance(matrices: dict, a: str, b: str) -> float:
    """Diversity of a (a == b) or cross diversity of a and b, from ``matrices[(x, y)]``."""
    if a == b:
        return float(upper_triangle(matrices[(a, a)]).mean())
    matrix = matrices[(a, b)] if (a, b) in matrices else matrices[(b, a)]
    return float(matrix.mean())


def source_distances(sources: list[str], matrices: dict) -> np.ndarray:
    """D[i, j]: mean distance between a batch of source i and a (different) batch of source j."""
    return np.array([[mean_distance(matrices, a, b) for b in sources] for a in sources])


def batch_alignment(matrices: dict, source: str, target: str) -> np.ndarray:
    """Alignment of each batch of ``source`` to ``target``: 1 - its mean distance to the target's batches."""
    return 1.0 - pair(matrices, source, target).mean(axis=1)


def _polish(w: np.ndarray) -> np.ndarray:
    w = np.where(w < 1e-9, 0.0, w)
    return w / w.sum()


def optimal_mixture(alignment, distances, min_diversity: float, starts: int = 20, seed: int = 0) -> np.ndarray:
    """Weights on the simplex maximising alignment @ w subject to w @ distances @ w >= min_diversity."""
    a, d = np.asarray(alignment, dtype=np.float64), np.asarray(distances, dtype=np.float64)
    k = len(a)
    rng = np.random.default_rng(seed)
    points = [*np.eye(k), np.full(k, 1.0 / k), *rng.dirichlet(np.ones(k), size=starts)]
    simplex = [{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones(k)}]

    def solve(objective, jacobian, constraints):
        ends = []
        for w0 in points:
            result = optimize.minimize(
                objective, w0, jac=jacobian, method="SLSQP", bounds=[(0.0, 1.0)] * k, constraints=constraints
            )
            ends.append(_polish(np.clip(result.x, 0.0, None)))
        return ends

    floor = {"type": "ineq", "fun": lambda w: w @ d @ w - min_diversity, "jac": lambda w: (d + d.T) @ w}
    feasible = [
        w for w in solve(lambda w: -a @ w, lambda w: -a, [*simplex, floor]) if w @ d @ w >= min_diversity - FEASIBLE
    ]
    if feasible:
        return max(feasible, key=lambda w: a @ w)
    best = max(solve(lambda w: -(w @ d @ w), lambda w: -(d + d.T) @ w, simplex), key=lambda w: w @ d @ w)
    raise DataError(
        f"no mixture of the candidates reaches diversity {min_diversity:g} (the most diverse reaches "
        f"{best @ d @ best:.4g}); lower selection.min_diversity or add candidates"
    )


def batch_counts(weights, n_batches: int, available) -> np.ndarray:
    """Batches to take from each source: weight x n_batches by largest remainder, capped at
    what a source has, the excess moved to the sources of highest weight that have room."""
    counts = np.minimum(mix_counts(weights, n_batches), available)
    for i in np.argsort(-np.asarray(weights), kind="stable"):
        counts[i] += min(n_batches - counts.sum(), available[i] - counts[i])
    return counts


def select(target: str, candidates: list[str], matrices: dict, min_diversity: float, n_batches: int, starts: int):
    """The ranking of sources and batches, the mixture weights, the selected batches and a
    summary (estimated and achieved alignment and diversity of the selection)."""
    a = np.array([1.0 - mean_distance(matrices, c, target) for c in candidates])
    d = source_distances(candidates, matrices)
    weights = optimal_mixture(a, d, min_diversity, starts=starts)
    per_batch = {c: batch_alignment(matrices, c, target) for c in candidates}
    counts = batch_counts(weights, n_batches, np.array([len(per_batch[c]) for c in candidates]))
    sources = pd.DataFrame(
        {
            "source": candidates,
            "alignment": a,
            "rank": pd.Series(-a).rank(method="min").astype(int).to_numpy(),
            "diversity": np.diag(d),
            "weight": weights,
            "n_batches_selected": counts,
        }
    ).sort_values(["rank", "source"])
    batches, offset, chosen = [], 0, []
    for c, count in zip(candidates, counts):
        order = np.argsort(-per_batch[c], kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        selected = np.isin(np.arange(len(order)), order[:count])
        table = {"source": c, "batch": np.arange(len(order)), "alignment": per_batch[c], "rank_in_source": rank}
        batches.append(pd.DataFrame({**table, "selected": selected}))
        chosen += (offset + np.sort(order[:count])).tolist()
        offset += len(order)
    pool = pooled_matrix(candidates, matrices)[np.ix_(chosen, chosen)]
    to_target = np.concatenate([pair(matrices, c, target) for c in candidates])[chosen]
    summary = {
        "target": target,
        "min_diversity": min_diversity,
        "alignment_estimated": float(a @ weights),
        "diversity_estimated": float(weights @ d @ weights),
        "n_batches_selected": int(counts.sum()),
        "alignment_selected": float(1.0 - to_target.mean()),
        "diversity_selected": float(upper_triangle(pool).mean()) if len(chosen) > 1 else float("nan"),
    }
    # the floor holds for the mixture in expectation; the most aligned batches of a source can be
    # less diverse than the source as a whole, so the selection itself is checked and flagged
    summary["floor_met_by_selection"] = bool(summary["diversity_selected"] >= min_diversity - FEASIBLE)
    return sources, pd.concat(batches, ignore_index=True), summary


def selected_documents(batches: pd.DataFrame, manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Document ids of the selected batches, from each source's manifest."""
    parts = []
    for source, group in batches[batches["selected"]].groupby("source", sort=False):
        manifest = manifests[source]
        rows = manifest[manifest["batch"].isin(group["batch"])]
        parts.append(rows[["batch", "position", "document_id"]].assign(source=source))
    columns = ["source", "batch", "position", "document_id"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def selection_figure(sources: pd.DataFrame, summary: dict, path: str) -> None:
    """Each source's alignment to the target and its mixture weight."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 0.4 * len(sources) + 2.5))
    names = sources["source"].tolist()[::-1]
    axes[0].barh(names, sources["alignment"].to_numpy()[::-1])
    axes[0].set_xlabel(f"alignment to {summary['target']}")
    axes[1].barh(names, sources["weight"].to_numpy()[::-1], color="C1")
    axes[1].set_xlabel("mixture weight")
    axes[1].set_xlim(0, 1)
    fig.suptitle(
        f"mixture: alignment {summary['alignment_estimated']:.4f}, diversity {summary['diversity_estimated']:.4f} "
        f"(floor {summary['min_diversity']:g})",
        fontsize="medium",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
