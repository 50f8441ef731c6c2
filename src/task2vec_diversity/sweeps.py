"""GINC sweeps: the diversity coefficient as one GINC setting varies (latent concepts or
vocabulary size), with the paper's trend model, a quadratic in log x, and its R^2."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SWEEP_COLUMNS = ["sweep", "vary", "value", "dataset", "diversity", "ci95_low", "ci95_high", "ci95_paper"]
FIT_COLUMNS = ["sweep", "vary", "n_points", "intercept", "slope_log", "curvature_log", "r2"]


@dataclass(frozen=True)
class QuadraticLogFit:
    """y = intercept + slope_log * ln x + curvature_log * (ln x)^2, fitted by least squares."""

    intercept: float
    slope_log: float
    curvature_log: float
    r2: float

    def __call__(self, x) -> np.ndarray:
        t = np.log(np.asarray(x, dtype=float))
        return self.intercept + self.slope_log * t + self.curvature_log * t**2


def quadratic_log_fit(x, y) -> QuadraticLogFit:
    """Least-squares quadratic in ln x and its coefficient of determination
    R^2 = 1 - SS_res / SS_tot (1 when every y is equal and fitted exactly)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.any(x <= 0):
        raise ValueError("a quadratic fit in log x needs at least three positive x values")
    t = np.log(x)
    design = np.stack([np.ones_like(t), t, t**2], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    total = np.sum((y - y.mean()) ** 2)
    r2 = 1.0 - np.sum(residual**2) / total if total > 0 else 1.0
    return QuadraticLogFit(float(coef[0]), float(coef[1]), float(coef[2]), float(r2))


def sweep_tables(diversity: pd.DataFrame, sweeps: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per sweep point, one fit per sweep) from the diversity table and the
    validated sweeps ({sweep: {vary, datasets: {value: dataset}}})."""
    by_name = diversity.set_index("dataset")
    points, fits = [], []
    for sweep, spec in sweeps.items():
        rows = by_name.loc[list(spec["datasets"].values())]
        values = np.array([int(v) for v in spec["datasets"]])
        for value, (name, row) in zip(values, rows.iterrows()):
            points.append(
                {"sweep": sweep, "vary": spec["vary"], "value": int(value), "dataset": name}
                | {k: row[k] for k in ("diversity", "ci95_low", "ci95_high", "ci95_paper")}
            )
        fit = quadratic_log_fit(values, rows["diversity"].to_numpy())
        fits.append(
            {"sweep": sweep, "vary": spec["vary"], "n_points": len(values)}
            | {k: getattr(fit, k) for k in ("intercept", "slope_log", "curvature_log", "r2")}
        )
    return pd.DataFrame(points, columns=SWEEP_COLUMNS), pd.DataFrame(fits, columns=FIT_COLUMNS)


LABELS = {"n_concepts": "number of latent concepts", "n_symbols": "vocabulary size"}


def sweep_figure(points: pd.DataFrame, fits: pd.DataFrame, path: str) -> None:
    """One panel per varied setting: each sweep's diversity with its bootstrap interval
    against the setting (log axis) and its quadratic-in-log fit, R^2 in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    varied = list(dict.fromkeys(points["vary"]))
    fig, axes = plt.subplots(1, len(varied), figsize=(6 * len(varied), 4.5), squeeze=False)
    for ax, vary in zip(axes[0], varied):
        for i, (sweep, part) in enumerate(points[points["vary"] == vary].groupby("sweep", sort=False)):
            fit_row = fits.set_index("sweep").loc[sweep]
            fit = QuadraticLogFit(*(float(fit_row[k]) for k in ("intercept", "slope_log", "curvature_log", "r2")))
            color = f"C{i % 10}"
            error = [part["diversity"] - part["ci95_low"], part["ci95_high"] - part["diversity"]]
            ax.errorbar(part["value"], part["diversity"], yerr=error, fmt="o", color=color, capsize=3)
            grid = np.geomspace(part["value"].min(), part["value"].max(), 200)
            ax.plot(grid, fit(grid), color=color, label=f"{sweep} (quadratic in log x, R² {fit.r2:.2f})")
        ax.set_xscale("log")
        ax.set_xlabel(LABELS.get(vary, vary))
        ax.set_ylabel("diversity coefficient")
        ax.legend(fontsize="small")
    fig.suptitle("GINC: diversity coefficient against the generating settings")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
