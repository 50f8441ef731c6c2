"""The report: the diversity table (CSV and Markdown) and the pairwise-distance histograms
(the paper's Figure 8 style)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .coefficients import coefficient
from .noise import CROSS_NOISE_COLUMNS, NOISE_COLUMNS

# the answer first (the coefficient, its noise floor, the part above it and the rank by it),
# then what it was computed from; diversity.csv keeps every column in this order
ANSWER_COLUMNS = [
    "dataset",
    "kind",
    "rank",
    "diversity",
    "ci95_low",
    "ci95_high",
    "noise_floor",
    "noise_share",
    "diversity_above_noise",
    "diversity_above_noise_ci95_low",
    "diversity_above_noise_ci95_high",
    "paper_diversity",
]
COLUMNS = [
    *ANSWER_COLUMNS,
    "probe",
    "probe_revision",
    "dataset_revision",
    "variant",
    "n_batches",
    "batch_size",
    "duplicates_dropped",
    "ci95_paper",
    "ci95",
    "std",
    "n_pairs",
    "difference",
    *[c for c in NOISE_COLUMNS if c not in ANSWER_COLUMNS],
    "fisher_coordinates_above_eps",
    "fisher_mass_above_eps",
]
# what lowers a noise floor, as measured on the demo (docs/noise-floor.md, "What the demo shows")
NOISE_ADVICE = (
    "raise `task2vec.fisher_samples` (now {k}): the floor falls as 1/K, and K = 4 took 1.32 times "
    "the embedding time of K = 1 on the demo (docs/noise-floor.md)"
)
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


def _cell(value) -> str:
    """A table cell: numbers with 4 significant digits, nothing for a missing value (None, NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """The table as Markdown, numbers with 4 significant digits, missing values empty."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def rank_by(table: pd.DataFrame) -> str:
    """The column the report ranks by: the diversity above the noise floor when any row has
    one, else the diversity."""
    return "diversity_above_noise" if table["diversity_above_noise"].notna().any() else "diversity"


def ranks(table: pd.DataFrame) -> pd.Series:
    """1 = most diverse, by ``rank_by``; rows without that value (a pool, when the datasets
    have noise floors) have no rank."""
    return table[rank_by(table)].rank(ascending=False, method="min").astype("Int64")


def _interval(value, low, high) -> str:
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def answer_table(table: pd.DataFrame) -> pd.DataFrame:
    """The compact table a reader reads first, by rank: dataset, diversity with its 95%
    interval, noise floor with its share of the diversity, diversity above the floor with
    its interval, the published value (a column only when the config gives one). A missing
    value says why."""
    floors = table["noise_floor"].notna().any()
    rows = []
    for row in table.sort_values("rank", na_position="last", kind="stable").itertuples(index=False):
        has_floor = not np.isnan(row.noise_floor)
        why = "none for a pool" if row.kind == "pool" else "not configured"
        # the share is undefined for a diversity of 0 (identical batches)
        share = "" if np.isnan(row.noise_share) else f" ({100 * row.noise_share:.0f}%)"
        rows.append(
            {
                "rank": "" if pd.isna(row.rank) else str(row.rank),
                "dataset": row.dataset if row.kind == "dataset" else f"{row.dataset} (pool)",
                "diversity [95% CI]": _interval(row.diversity, row.ci95_low, row.ci95_high),
                "noise floor (share)": f"{row.noise_floor:.4f}{share}" if has_floor else why,
                "above the floor [95% CI]": _interval(
                    row.diversity_above_noise, row.diversity_above_noise_ci95_low, row.diversity_above_noise_ci95_high
                )
                if has_floor
                else "",
                "published": "" if np.isnan(row.paper_diversity) else f"{row.paper_diversity:.4f}",
            }
        )
    answer = pd.DataFrame(rows)
    if not floors:
        answer = answer.drop(columns=["above the floor [95% CI]"])
    if table["paper_diversity"].isna().all():
        answer = answer.drop(columns=["published"])
    return answer


def alignment_answer(table: pd.DataFrame) -> pd.DataFrame:
    """The compact alignment table a reader reads first: each (train, eval) pair's alignment
    with its 95% interval and, where both sets have a noise floor, the cross diversity above
    the mean of their floors with its interval."""
    rows = []
    for row in table.itertuples(index=False):
        floors = not np.isnan(row.cross_diversity_above_noise)
        rows.append(
            {
                "train": row.train,
                "eval": row.eval,
                "alignment [95% CI]": _interval(row.alignment, row.alignment_ci95_low, row.alignment_ci95_high),
                "cross diversity above the floors [95% CI]": _interval(
                    row.cross_diversity_above_noise,
                    row.cross_diversity_above_noise_ci95_low,
                    row.cross_diversity_above_noise_ci95_high,
                )
                if floors
                else "no noise floor for both",
            }
        )
    return pd.DataFrame(rows)


def alignment_sections(table: pd.DataFrame, layout: pd.DataFrame, figure: str | None = None) -> list:
    """What alignment.md and alignment.html say: the compact table, the heatmap, the paper's
    layout (rows = training sets, columns = evaluation sets), every column."""
    parts = [
        "# Alignment",
        alignment_answer(table),
        "Alignment = 1 - cross diversity; intervals: 95%, bootstrap over batches.",
    ]
    if figure:
        parts.append(("The alignment of each training set (rows) with each evaluation set (columns)", figure))
    return [*parts, "## Training sets by evaluation sets", layout.reset_index(), "## Every column", table]


def noise_line(table: pd.DataFrame, threshold: float, fisher_samples: int) -> str:
    """One line when a coefficient is mostly noise (its noise share above ``threshold``):
    which, by how much, that the rank is by the part above the floor, and what to do."""
    rows = table[table["noise_share"] > threshold]
    if rows.empty:
        return ""
    shares = ", ".join(f"{r.dataset} ({100 * r.noise_share:.0f}%)" for r in rows.itertuples(index=False))
    return (
        f"Mostly noise: the noise floor is over {100 * threshold:.0f}% of the diversity of {shares} "
        "(`report.noise_share_threshold`), so the rank is by the diversity above the floor; to lower "
        f"the floor, {NOISE_ADVICE.format(k=fisher_samples)}.\n"
    )


def diversity_sections(table: pd.DataFrame, summary: str, figure: str | None = None) -> list:
    """What diversity.md and diversity.html say, in order: the compact table, how it ranks,
    the figure, the summary lines, every column (headings are strings starting with '#',
    figures tuples (caption, path), tables DataFrames, the rest lines of text)."""
    by = "the diversity above the noise floor" if rank_by(table) == "diversity_above_noise" else "the diversity"
    parts = [
        "# Diversity",
        answer_table(table),
        f"Rank 1 is the most diverse, by {by}; intervals: 95%, bootstrap over batches.",
    ]
    if figure:
        parts.append(("The diversity of each dataset, its noise floor and the part above it", figure))
    parts += summary.splitlines() if summary else []
    return [*parts, "## Every column", table]


def markdown_page(parts: list) -> str:
    """The parts of ``diversity_sections`` as Markdown."""
    out = []
    for part in parts:
        if isinstance(part, pd.DataFrame):
            out.append("\n" + markdown_table(part))
        elif isinstance(part, tuple):
            out.append(f"\n![{part[0]}]({part[1]})\n")
        elif part.startswith("#"):
            out.append(("\n" if out else "") + part + "\n")
        else:
            out.append(part)
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


STYLE = (
    "body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;font-size:small;margin:0.5em 0}"
    "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}img{max-width:100%}ul{margin:0}"
)


def data_uri(path) -> str:
    """A PNG as a data URI, so that an HTML page shows it in the Snakemake report too."""
    import base64

    with open(path, "rb") as image:
        return "data:image/png;base64," + base64.b64encode(image.read()).decode()


def write_pages(parts: list, title: str, markdown_path: str, html_path: str, figure_path: str) -> None:
    """The parts as a Markdown page (the figure linked by its file name) and an HTML page (the
    figure inlined, so that the Snakemake report shows it)."""
    import os

    with open(markdown_path, "w") as out:
        out.write(markdown_page(parts))
    with open(html_path, "w") as out:
        out.write(html_page(title, parts, {os.path.basename(figure_path): data_uri(figure_path)}))


def html_page(title: str, parts: list, images: dict[str, str] | None = None) -> str:
    """The parts of ``diversity_sections`` as a standalone HTML page (the Snakemake report
    shows HTML, not CSV or Markdown); ``images``: each figure's path to a data URI."""
    import html

    return (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>\n" + html_body(parts, images) + "\n</body></html>\n"
    )


def html_body(parts: list, images: dict[str, str] | None = None) -> str:
    """The parts of ``diversity_sections`` as HTML elements (no page around them)."""
    import html
    import re

    def text(line: str) -> str:
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(line))

    body = []
    for part in parts:
        if isinstance(part, pd.DataFrame):
            cells = part.astype(object).map(_cell)
            body.append(cells.to_html(index=False, border=0, escape=True, na_rep=""))
        elif isinstance(part, tuple):
            source = (images or {}).get(part[1], part[1])
            body.append(f"<p><img src='{source}' alt='{html.escape(part[0])}'></p>")
        elif part.startswith("#"):
            level = len(part) - len(part.lstrip("#"))
            body.append(f"<h{level}>{text(part.lstrip('# '))}</h{level}>")
        elif part.startswith("- "):
            body.append(f"<ul><li>{text(part[2:])}</li></ul>")
        elif part.strip():
            body.append(f"<p>{text(part)}</p>")
    return "\n".join(body)


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
            f"[{row.noise_floor_ci95_low:.4f}, {row.noise_floor_ci95_high:.4f}]"
            + ("" if np.isnan(row.noise_share) else f" ({100 * row.noise_share:.0f}% of it)")
            + ", "
            f"above the floor {row.diversity_above_noise:.4f} [{row.diversity_above_noise_ci95_low:.4f}, "
            f"{row.diversity_above_noise_ci95_high:.4f}]" + ("" if told else ": not told apart from its noise floor")
        )
    return "\n".join(lines) + "\n"


def diversity_figure(table: pd.DataFrame, path: str) -> None:
    """The headline figure, one bar per dataset and pool in rank order: the diversity with its
    95% interval, the noise floor drawn inside the bar (dark) and the part above it (light), with
    that part's interval, and the published value (a black diamond) where there is one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = table.sort_values("rank", na_position="last", kind="stable").iloc[::-1]
    y = np.arange(len(rows))
    names = [d if k == "dataset" else f"{d} (pool)" for d, k in zip(rows["dataset"], rows["kind"])]
    floor = rows["noise_floor"].fillna(0).to_numpy(float)
    diversity = rows["diversity"].to_numpy(float)
    fig, ax = plt.subplots(figsize=(10, 1.5 + 0.45 * len(rows)))
    has = rows["noise_floor"].notna().to_numpy()
    ax.barh(y[has], floor[has], color="0.45", label="noise floor (same batch, other seeds)")
    ax.barh(y[has], (diversity - floor)[has], left=floor[has], color="C0", alpha=0.6, label="above the noise floor")
    if not has.all():
        ax.barh(y[~has], diversity[~has], color="0.8", label="no noise floor measured")
    ax.errorbar(
        diversity,
        y,
        xerr=[diversity - rows["ci95_low"], rows["ci95_high"] - diversity],
        fmt="none",
        ecolor="k",
        capsize=3,
        label="diversity, 95% interval",
    )
    above = rows["diversity_above_noise"].notna().to_numpy()
    if above.any():
        ax.errorbar(
            (floor + rows["diversity_above_noise"].fillna(0))[above],
            y[above] - 0.25,
            xerr=[
                (rows["diversity_above_noise"] - rows["diversity_above_noise_ci95_low"])[above],
                (rows["diversity_above_noise_ci95_high"] - rows["diversity_above_noise"])[above],
            ],
            fmt="none",
            ecolor="C0",
            capsize=2,
            label="above the floor, 95% interval",
        )
    published = rows["paper_diversity"].notna().to_numpy()
    if published.any():
        ax.plot(rows["paper_diversity"][published], y[published], "kD", markersize=5, label="published value")
    ax.set_yticks(y, names)
    ax.set_xlabel("Task2Vec diversity coefficient")
    ax.set_xlim(0, max(diversity.max(), rows["ci95_high"].max(), rows["paper_diversity"].fillna(0).max()) * 1.08)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title("Diversity by dataset (rank 1 on top)", fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
