"""The report: the diversity table (CSV and Markdown) and the pairwise-distance histograms
(the paper's Figure 8 style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .coefficients import coefficient

COLUMNS = [
    "dataset",
    "probe",
    "probe_revision",
    "variant",
    "n_batches",
    "batch_size",
    "diversity",
    "ci95_paper",
    "ci95",
    "ci95_low",
    "ci95_high",
    "std",
    "n_pairs",
]


def diversity_row(matrix: np.ndarray, attrs: dict, replicates: int, seed: int) -> dict:
    """One row of the diversity table from a dataset's distance matrix and its provenance."""
    coef = coefficient(matrix, replicates=replicates, seed=seed, square=True)
    identity = attrs["identity"]
    return {
        "dataset": attrs["dataset"],
        "probe": identity["probe"]["id"],
        "probe_revision": attrs["probe_revision"],
        "variant": identity["task2vec"]["variant"],
        "n_batches": matrix.shape[0],
        "batch_size": attrs["batch_size"],
        "diversity": coef.value,
        "ci95_paper": coef.ci95_paper,
        "ci95": coef.ci95,
        "ci95_low": coef.ci95_low,
        "ci95_high": coef.ci95_high,
        "std": coef.std,
        "n_pairs": coef.n_pairs,
    }


def markdown_table(table: pd.DataFrame) -> str:
    """The table as Markdown, numbers with 4 significant digits."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"

    def cell(value):
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def histogram_figure(distances: dict[str, np.ndarray], path: str, title: str = "") -> None:
    """Overlaid histograms of every dataset's pairwise distances, with its mean marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.concatenate(list(distances.values()))
    bins = np.linspace(values.min(), values.max() if values.max() > values.min() else values.min() + 1e-6, 50)
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
