"""Diversity and alignment against downstream results: the regressions the papers report.

The user's CSV holds one row per evaluation result: ``train`` (a dataset or pool of this run),
``eval`` (an evaluation dataset, empty when the result is not tied to one), ``metric`` (e.g.
``loss``, ``accuracy``), ``value`` and optionally ``model`` (model size or configuration). Each
result is joined with the training set's diversity and, when ``eval`` is given, with the
alignment of (train, eval). For every predictor, metric and model a least-squares line is fitted
(scipy.stats.linregress) with Pearson's r, R^2, the p value of the slope, the slope's confidence
interval t(1 - alpha/2, n - 2) * stderr, and a confidence band of the mean response:
y_hat(x) +- t * s * sqrt(1/n + (x - mean x)^2 / Sxx), s^2 = residual sum of squares / (n - 2).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .errors import DataError

REQUIRED = ["train", "eval", "metric", "value"]
FIT_COLUMNS = [
    "predictor",
    "metric",
    "model",
    "n",
    "slope",
    "intercept",
    "slope_ci_low",
    "slope_ci_high",
    "r",
    "r2",
    "p",
    "confidence",
]
# the provenance columns of the diversity table that must agree inside one regression
PROVENANCE = ["probe", "probe_revision", "variant", "batch_size"]


def read_results(path: str) -> pd.DataFrame:
    """The user's evaluation results, checked: required columns present, values numeric."""
    table = pd.read_csv(path, dtype={"train": str, "eval": str, "metric": str, "model": str})
    missing = [c for c in REQUIRED if c not in table]
    if missing:
        raise DataError(
            f"downstream results {path} lack column '{missing[0]}'; give train, eval, metric, value (model optional)"
        )
    values = pd.to_numeric(table["value"], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna())[0])
        raise DataError(f"downstream results {path}: 'value' of row {row + 2} is not a number; fix the CSV")
    table["value"] = values
    if "model" not in table:
        table["model"] = "all"
    table["model"] = table["model"].fillna("all")
    table["eval"] = table["eval"].fillna("")
    return table[["train", "eval", "metric", "model", "value"]]


def join(results: pd.DataFrame, diversity: pd.DataFrame, alignment: pd.DataFrame | None) -> pd.DataFrame:
    """Each result beside its training set's diversity (and provenance) and, when it names an
    evaluation set, the alignment of the pair. Names the run has not measured are refused."""
    known = diversity.set_index("dataset")
    unknown = sorted(set(results["train"]) - set(known.index))
    if unknown:
        raise DataError(
            f"downstream results name training set '{unknown[0]}', which has no diversity in this run; "
            "add it to datasets or pools, or drop its rows"
        )
    out = results.join(known[["diversity", *PROVENANCE]], on="train")
    out["alignment"] = np.nan
    paired = out["eval"] != ""
    if paired.any():
        pairs = {} if alignment is None else alignment.set_index(["train", "eval"])["alignment"].to_dict()
        missing = [(t, e) for t, e in zip(out.loc[paired, "train"], out.loc[paired, "eval"]) if (t, e) not in pairs]
        if missing:
            raise DataError(
                f"downstream results name the pair (train {missing[0][0]}, eval {missing[0][1]}), which has no "
                "alignment in this run; add them to alignment.train / alignment.eval"
            )
        out.loc[paired, "alignment"] = [
            pairs[(t, e)] for t, e in zip(out.loc[paired, "train"], out.loc[paired, "eval"])
        ]
    return out


def fit(x, y, confidence: float = 0.95) -> dict:
    """Least-squares line of y on x with r, R^2, p and the slope's confidence interval."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        nan = float("nan")
        return {"n": n, "confidence": confidence, **dict.fromkeys(FIT_COLUMNS[4:11], nan)}
    line = stats.linregress(x, y)
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * line.stderr
    return {
        "n": n,
        "slope": float(line.slope),
        "intercept": float(line.intercept),
        "slope_ci_low": float(line.slope - half),
        "slope_ci_high": float(line.slope + half),
        "r": float(line.rvalue),
        "r2": float(line.rvalue**2),
        "p": float(line.pvalue),
        "confidence": confidence,
    }


def confidence_band(x, y, grid, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted mean on ``grid`` and its pointwise confidence band (low, high)."""
    x, y, grid = (np.asarray(a, dtype=np.float64) for a in (x, y, grid))
    n = len(x)
    line = stats.linregress(x, y)
    mean = line.intercept + line.slope * grid
    residual = y - (line.intercept + line.slope * x)
    s = np.sqrt((residual**2).sum() / (n - 2))
    sxx = ((x - x.mean()) ** 2).sum()
    half = stats.t.ppf(0.5 + confidence / 2, n - 2) * s * np.sqrt(1 / n + (grid - x.mean()) ** 2 / sxx)
    return mean, mean - half, mean + half


def fits(joined: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One regression per predictor (alignment, diversity), metric and model."""
    rows = []
    for predictor in ("alignment", "diversity"):
        data = joined.dropna(subset=[predictor])
        for (metric, model), group in data.groupby(["metric", "model"], sort=False):
            for column in PROVENANCE:
                if group[column].nunique() > 1:
                    raise DataError(
                        f"downstream: the {metric} results of model {model} combine training sets measured with "
                        f"different {column} ({', '.join(map(str, group[column].unique()))}); refusing to fit one line"
                    )
            result = fit(group[predictor], group["value"], confidence)
            rows.append({"predictor": predictor, "metric": metric, "model": model, **result})
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def scatter_figure(joined: pd.DataFrame, predictor: str, path: str, confidence: float = 0.95) -> None:
    """One panel per (metric, model): the results against the predictor, one colour per
    evaluation set, the fitted line and its confidence band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = joined.dropna(subset=[predictor])
    groups = list(data.groupby(["metric", "model"], sort=False)) if len(data) else []
    fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(4.5 * max(1, len(groups)), 4), squeeze=False)
    if not groups:
        axes[0, 0].text(0.5, 0.5, f"no result has a {predictor}", ha="center", va="center")
    colours = {name: f"C{i % 10}" for i, name in enumerate(dict.fromkeys(data["eval"]))}
    for ax, ((metric, model), group) in zip(axes[0], groups):
        for eval_, part in group.groupby("eval", sort=False):
            ax.scatter(part[predictor], part["value"], color=colours[eval_], label=eval_ or "(no eval set)")
        result = fit(group[predictor], group["value"], confidence)
        if np.isfinite(result["slope"]):
            grid = np.linspace(group[predictor].min(), group[predictor].max(), 50)
            mean, low, high = confidence_band(group[predictor], group["value"], grid, confidence)
            ax.plot(grid, mean, color="k", linewidth=1, label=f"fit, R² = {result['r2']:.2f}")
            ax.fill_between(grid, low, high, color="k", alpha=0.15, label=f"{confidence:.0%} band of the mean")
        ax.set_xlabel(f"{predictor} coefficient")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} vs {predictor} (model {model})", fontsize="medium")
        ax.legend(fontsize="x-small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
