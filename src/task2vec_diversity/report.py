"""The report: the diversity table (CSV and Markdown) and the pairwise-distance histograms
(the paper's Figure 8 style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .coefficients import coefficient
from .noise import CROSS_NOISE_COLUMNS, NOISE_COLUMNS

COLUMNS = [
    "dataset",
    "kind",
    "probe",
    "probe_revision",
    "dataset_revision",
    "variant",
    "n_batches",
    "batch_size",
    "duplicates_dropped",
    "diversity",
    "ci95_paper",
    "ci95",
    "ci95_low",
    "ci95_high",
    "std",
    "n_pairs",
    "paper_diversity",
    "difference",
    *NOISE_COLUMNS,
    "fisher_coordinates_above_eps",
    "fisher_mass_above_eps",
]
ALIGNMENT_COLUMNS = [
    "train",
    "eval",
    "cross_diversity",
    "alignment",
    "ci95_paper",
    "ci95",
    "alignment_ci95_low",
    "alignment_ci95_high",
    "std",
    "n_pairs",
    *CROSS_NOISE_COLUMNS,
]


def diversity_row(
    matrix: np.ndarray,
    attrs: dict,
    replicates: int,
    seed: int,
    name: str | None = None,
    groups=None,
    paper: float | None = None,
    duplicates: int | None = None,
) -> dict:
    """One row of the diversity table from a dataset's (or a pool's, with ``groups``)
    distance matrix and its provenance, beside the paper's value when there is one.
    ``duplicates``: exact duplicate documents dropped from its pool (by default read from the
    provenance; None, an empty cell, for sources that are not deduplicated: generated ones)."""
    if duplicates is None:
        duplicates = attrs.get("pool", {}).get("duplicates_dropped")
    coef = coefficient(matrix, replicates=replicates, seed=seed, square=True, groups=groups)
    identity = attrs["identity"]
    paper = float("nan") if paper is None else float(paper)
    return {
        "dataset": name or attrs["dataset"],
        "kind": "dataset" if groups is None else "pool",
        "probe": identity["probe"]["id"],
        "probe_revision": attrs["probe_revision"],
        "dataset_revision": attrs.get("dataset_revision"),
        "variant": identity["task2vec"]["variant"],
        "n_batches": matrix.shape[0],
        "batch_size": attrs["batch_size"],
        "duplicates_dropped": duplicates,
        "diversity": coef.value,
        "ci95_paper": coef.ci95_paper,
        "ci95": coef.ci95,
        "ci95_low": coef.ci95_low,
        "ci95_high": coef.ci95_high,
        "std": coef.std,
        "n_pairs": coef.n_pairs,
        "paper_diversity": paper,
        "difference": coef.value - paper,
    }


def alignment_row(matrix: np.ndarray, train: str, eval_: str, replicates: int, seed: int) -> dict:
    """Cross diversity of a training and an evaluation set (all pairs of their batches;
    a set with itself: pairs of different batches) and alignment = 1 - cross diversity."""
    coef = coefficient(matrix, replicates=replicates, seed=seed, square=train == eval_)
    return {
        "train": train,
        "eval": eval_,
        "cross_diversity": coef.value,
        "alignment": 1.0 - coef.value,
        "ci95_paper": coef.ci95_paper,
        "ci95": coef.ci95,
        "alignment_ci95_low": 1.0 - coef.ci95_high,
        "alignment_ci95_high": 1.0 - coef.ci95_low,
        "std": coef.std,
        "n_pairs": coef.n_pairs,
    }


def heatmap_figure(table: pd.DataFrame, path: str, title: str) -> None:
    """A rows x columns table of values as an annotated heatmap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.2 * len(table.columns) + 3, 0.6 * len(table) + 2))
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(table.columns)), table.columns, rotation=45, ha="right")
    ax.set_yticks(range(len(table.index)), table.index)
    ax.set_xlabel(table.columns.name or "")
    ax.set_ylabel(table.index.name or "")
    for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
        ax.text(j, i, f"{value:.3f}", ha="center", va="center", color="w", fontsize="small")
    fig.colorbar(image, ax=ax)
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_table(table: pd.DataFrame) -> str:
    """The table as Markdown, numbers with 4 significant digits."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"

    def cell(value):
        if value is None:
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def histogram_figure(
    distances: dict[str, np.ndarray],
    path: str,
    title: str = "",
    n_bins: int = 50,
    noise: dict[str, np.ndarray] | None = None,
) -> None:
    """Overlaid histograms of every dataset's pairwise distances, with its mean marked; with
    ``noise`` (a dataset's noise-floor distances, between embeddings of the same batch), one
    panel per dataset with both, each with its mean marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    noise = {name: d for name, d in (noise or {}).items() if name in distances and len(d)}
    values = np.concatenate(list(distances.values()) + list(noise.values()))
    bins = np.linspace(values.min(), values.max() if values.max() > values.min() else values.min() + 1e-6, n_bins)
    if noise:
        n = len(distances)
        cols = min(3, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False, sharex=True)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        for ax, (i, (name, d)) in zip(axes.ravel(), enumerate(distances.items())):
            color = f"C{i % 10}"
            ax.hist(d, bins=bins, alpha=0.5, color=color, density=True, label=f"between batches ({d.mean():.4f})")
            ax.axvline(d.mean(), color=color, linestyle="--", linewidth=1)
            if name in noise:
                f = noise[name]
                ax.hist(f, bins=bins, color="k", histtype="step", density=True, label=f"same batch ({f.mean():.4f})")
                ax.axvline(f.mean(), color="k", linestyle=":", linewidth=1)
            ax.set_title(name, fontsize="medium")
            ax.legend(fontsize="x-small")
        for ax in axes[-1]:
            ax.set_xlabel("Task2Vec distance")
        for ax in axes[:, 0]:
            ax.set_ylabel("density")
        fig.suptitle(title or "Distances between batches, and between re-embeddings of one batch (noise floor)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, d) in enumerate(distances.items()):
        color = f"C{i % 10}"
        ax.hist(d, bins=bins, alpha=0.5, color=color, label=f"{name} (div {d.mean():.4f})")
        ax.axvline(d.mean(), color=color, linestyle="--", linewidth=1)
    ax.set_xlabel("Task2Vec distance between batches")
    ax.set_ylabel("number of batch pairs")
    ax.set_title(title or "Pairwise distances of each dataset's batches")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def noise_summary(table: pd.DataFrame) -> str:
    """A few lines on what the noise floors say: the datasets ordered by diversity and by
    diversity above the noise floor, each floor's share of its coefficient, and the datasets
    whose coefficient is not told apart from their noise floor (interval of the excess holds 0)."""
    rows = table[(table["kind"] == "dataset") & table["noise_floor"].notna()]
    if rows.empty:
        return ""
    by_div = " < ".join(rows.sort_values("diversity")["dataset"])
    by_excess = " < ".join(rows.sort_values("diversity_above_noise")["dataset"])
    lines = [
        "What the noise floor says (noise floor: mean distance between embeddings of the same batch made "
        "with different seeds):",
        "",
        f"- by diversity: {by_div}",
        f"- by diversity above the noise floor: {by_excess}",
    ]
    for row in rows.itertuples(index=False):
        told = row.diversity_above_noise_ci95_low > 0
        lines.append(
            f"- {row.dataset}: diversity {row.diversity:.4f}, noise floor {row.noise_floor:.4f} "
            f"[{row.noise_floor_ci95_low:.4f}, {row.noise_floor_ci95_high:.4f}] ({100 * row.noise_share:.0f}% of it), "
            f"above the floor {row.diversity_above_noise:.4f} [{row.diversity_above_noise_ci95_low:.4f}, "
            f"{row.diversity_above_noise_ci95_high:.4f}]" + ("" if told else ": not told apart from its noise floor")
        )
    return "\n".join(lines) + "\n"
