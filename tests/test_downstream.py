"""Downstream correlation: regressions against independent computations and known slopes."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from task2vec_diversity.downstream import confidence_band, fit, fits, join, read_results, scatter_figure
from task2vec_diversity.errors import DataError


def test_synthetic_known_slope_is_recovered_within_its_interval():
    """y = 2 - 3 x + noise: over many draws the 95% slope interval covers -3 about 95% of the time."""
    rng = np.random.default_rng(0)
    covered = 0
    for _ in range(400):
        x = rng.uniform(0.1, 0.4, 30)
        y = 2.0 - 3.0 * x + rng.normal(0, 0.05, 30)
        result = fit(x, y)
        covered += result["slope_ci_low"] <= -3.0 <= result["slope_ci_high"]
    assert 0.92 <= covered / 400 <= 0.98
    assert result["slope"] == pytest.approx(-3.0, abs=0.5) and result["r"] < -0.9


def test_fit_agrees_with_polyfit_and_hand_formulas():
    x = np.array([0.10, 0.15, 0.20, 0.22, 0.25, 0.30])
    y = np.array([3.9, 3.6, 3.5, 3.2, 3.1, 2.7])
    result = fit(x, y, confidence=0.9)
    slope, intercept = np.polyfit(x, y, 1)
    assert result["slope"] == pytest.approx(slope) and result["intercept"] == pytest.approx(intercept)
    r = np.corrcoef(x, y)[0, 1]
    assert result["r"] == pytest.approx(r) and result["r2"] == pytest.approx(r**2)
    residual = y - (intercept + slope * x)
    se = np.sqrt((residual**2).sum() / 4 / ((x - x.mean()) ** 2).sum())
    t = stats.t.ppf(0.95, 4)
    assert result["slope_ci_low"] == pytest.approx(slope - t * se)
    assert result["slope_ci_high"] == pytest.approx(slope + t * se)
    # p of the slope: two-sided t test of slope / se with n - 2 degrees of freedom
    assert result["p"] == pytest.approx(2 * stats.t.sf(abs(slope / se), 4))


def test_confidence_band_is_narrowest_at_the_mean_and_matches_the_formula():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    y = np.array([1.1, 1.9, 3.2, 3.8, 5.1])
    mean, low, high = confidence_band(x, y, np.array([3.0, 5.0]))
    # s^2 = SSE / (n - 2), Sxx = 10, the grid points are 0 and 2 from the mean of x
    slope, intercept = np.polyfit(x, y, 1)
    s = np.sqrt(((y - intercept - slope * x) ** 2).sum() / 3)
    t = stats.t.ppf(0.975, 3)
    assert mean == pytest.approx(intercept + slope * np.array([3.0, 5.0]))
    assert high - mean == pytest.approx(t * s * np.sqrt(1 / 5 + np.array([0.0, 4.0]) / 10))
    assert (high - low)[0] < (high - low)[1]


def test_band_covers_the_true_line_at_the_nominal_rate():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(400):
        x = rng.uniform(0, 1, 20)
        y = 1.0 + 0.5 * x + rng.normal(0, 0.1, 20)
        _, low, high = confidence_band(x, y, np.array([0.8]))
        hits += low[0] <= 1.4 <= high[0]
    assert 0.92 <= hits / 400 <= 0.98


def test_fit_needs_three_distinct_points():
    assert np.isnan(fit([0.1, 0.2], [1, 2])["slope"])
    assert np.isnan(fit([0.1, 0.1, 0.1], [1, 2, 3])["r2"])


def _diversity():
    return pd.DataFrame(
        {
            "dataset": ["a", "b", "c", "pool"],
            "diversity": [0.1, 0.2, 0.3, 0.25],
            "probe": "p",
            "probe_revision": "sha256:1",
            "variant": "reference",
            "batch_size": 4,
        }
    )


def _alignment():
    return pd.DataFrame({"train": ["a", "b", "c"], "eval": ["e", "e", "e"], "alignment": [0.9, 0.8, 0.7]})


def test_join_and_fits_per_predictor_metric_and_model(tmp_path):
    rows = [("a", "e", "loss", 3.0, "small"), ("b", "e", "loss", 3.2, "small"), ("c", "e", "loss", 3.4, "small")]
    rows += [
        ("a", "", "accuracy", 0.5, "big"),
        ("b", "", "accuracy", 0.6, "big"),
        ("pool", "", "accuracy", 0.65, "big"),
    ]
    path = tmp_path / "results.csv"
    pd.DataFrame(rows, columns=["train", "eval", "metric", "value", "model"]).to_csv(path, index=False)
    joined = join(read_results(str(path)), _diversity(), _alignment())
    assert joined["alignment"].tolist()[:3] == [0.9, 0.8, 0.7] and joined["alignment"].iloc[3:].isna().all()
    table = fits(joined).set_index(["predictor", "metric", "model"])
    assert table.loc[("alignment", "loss", "small"), "slope"] == pytest.approx(-2.0)
    assert table.loc[("alignment", "loss", "small"), "r2"] == pytest.approx(1.0)
    assert table.loc[("diversity", "loss", "small"), "slope"] == pytest.approx(2.0)
    accuracy = table.loc[("diversity", "accuracy", "big")]
    assert accuracy["n"] == 3 and accuracy["slope"] == pytest.approx(
        np.polyfit([0.1, 0.2, 0.25], [0.5, 0.6, 0.65], 1)[0]
    )
    assert ("alignment", "accuracy", "big") not in table.index
    for predictor in ("alignment", "diversity"):
        scatter_figure(joined, predictor, str(tmp_path / f"{predictor}.png"))
        assert (tmp_path / f"{predictor}.png").stat().st_size > 1000


def test_model_column_is_optional(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("train,eval,metric,value\na,e,loss,1\nb,e,loss,2\nc,e,loss,2.5\n")
    assert read_results(str(path))["model"].tolist() == ["all"] * 3


@pytest.mark.parametrize(
    "csv, message",
    [
        ("train,eval,value\na,e,1\n", "lack column 'metric'"),
        ("train,eval,metric,value\na,e,loss,high\n", "'value' of row 2 is not a number"),
        ("train,eval,metric,value\nzzz,e,loss,1\n", "training set 'zzz', which has no diversity"),
        ("train,eval,metric,value\na,zzz,loss,1\n", "(train a, eval zzz), which has no alignment"),
    ],
)
def test_bad_results_fail_with_one_line(tmp_path, csv, message):
    path = tmp_path / "r.csv"
    path.write_text(csv)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        join(read_results(str(path)), _diversity(), _alignment())


def test_training_sets_of_different_probes_are_not_fitted_together():
    diversity = _diversity()
    diversity.loc[1, "probe_revision"] = "sha256:2"
    joined = join(
        pd.DataFrame({"train": ["a", "b", "c"], "eval": "", "metric": "loss", "model": "all", "value": [1, 2, 3.0]}),
        diversity,
        None,
    )
    with pytest.raises(DataError, match="different probe_revision"):
        fits(joined)
