"""End to end: downstream fits, baselines and alignment-driven selection from config, on GINC
sources where the right answer is known: the target is drawn (with other documents) from the
latent concepts of one source only; the other sources' concepts come from other GINC seeds."""

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

from task2vec_diversity.activations import cosine_distances
from task2vec_diversity.coefficients import coefficient
from task2vec_diversity.store import read_array

from .test_workflow import CONFIGS, run_ok

pytestmark = pytest.mark.workflow


def decisions_config(workdir):
    (workdir / "downstream.csv").write_text(
        "train,eval,metric,value,model\n"
        + "".join(
            f"{t},target,loss,{v},small\n" for t, v in [("shares_target", 2.1), ("other_a", 2.9), ("other_b", 3.2)]
        )
        + "".join(f"{t},,accuracy,{v},small\n" for t, v in [("shares_target", 0.4), ("other_a", 0.5), ("other_b", 0.3)])
    )
    return yaml.safe_load((CONFIGS / "decisions.yaml").read_text())


@pytest.fixture(scope="module")
def decisions_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("decisions")
    config = decisions_config(workdir)
    run_ok(workdir, config)
    return workdir, config


def test_selection_picks_the_source_that_holds_the_targets_concepts(decisions_run):
    workdir, _ = decisions_run
    sources = pd.read_csv(workdir / "results/report/selection_sources.csv").set_index("source")
    alignment = pd.read_csv(workdir / "results/report/alignment.csv").set_index("train")["alignment"]
    assert sources.loc["shares_target", "rank"] == 1
    assert sources.loc["shares_target", "weight"] == pytest.approx(1.0)
    for source in sources.index:  # the ranking is the alignment report's
        assert sources.loc[source, "alignment"] == pytest.approx(alignment[source], abs=1e-12)
    documents = pd.read_csv(workdir / "results/report/selected_documents.tsv", sep="\t")
    manifest = pd.read_csv(workdir / "results/batches/shares_target/manifest.tsv", sep="\t")
    batches = pd.read_csv(workdir / "results/report/selection_batches.csv")
    chosen = batches[batches.selected]
    assert set(chosen.source) == {"shares_target"} and len(chosen) == 5 and len(documents) == 5 * 32
    expected = manifest[manifest.batch.isin(chosen.batch)].document_id.tolist()
    assert documents.document_id.tolist() == expected and (documents.source == "shares_target").all()
    # the chosen batches are the 5 best aligned of the source
    own = batches[batches.source == "shares_target"]
    assert chosen.alignment.min() >= own[~own.selected].alignment.max()
    assert (workdir / "results/report/selection.png").stat().st_size > 1000


def test_downstream_fits_equal_an_independent_regression(decisions_run):
    workdir, _ = decisions_run
    fits = pd.read_csv(workdir / "results/report/downstream_fits.csv").set_index(["predictor", "metric"])
    alignment = pd.read_csv(workdir / "results/report/alignment.csv").set_index("train")["alignment"]
    diversity = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")["diversity"]
    trains = ["shares_target", "other_a", "other_b"]
    loss = stats.linregress([alignment[t] for t in trains], [2.1, 2.9, 3.2])
    assert fits.loc[("alignment", "loss"), "slope"] == pytest.approx(loss.slope)
    assert fits.loc[("alignment", "loss"), "r2"] == pytest.approx(loss.rvalue**2)
    accuracy = np.polyfit([diversity[t] for t in trains], [0.4, 0.5, 0.3], 1)
    assert fits.loc[("diversity", "accuracy"), "slope"] == pytest.approx(accuracy[0])
    for name in ("downstream_alignment.png", "downstream_diversity.png"):
        assert (workdir / "results/report" / name).stat().st_size > 1000


def test_baselines_on_the_same_batches(decisions_run):
    workdir, _ = decisions_run
    table = pd.read_csv(workdir / "results/report/baselines.csv").set_index("dataset")
    diversity = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")["diversity"]
    for dataset in table.index:
        assert table.loc[dataset, "task2vec_diversity"] == pytest.approx(diversity[dataset], abs=1e-12)
    assert ((table.vendi >= 1) & (table.vendi <= 10)).all()
    assert ((table.distinct_ngrams > 0) & (table.distinct_ngrams <= 1)).all()
    agreement = pd.read_csv(workdir / "results/report/baselines_agreement.csv").set_index("baseline")
    rho = stats.spearmanr(table.task2vec_diversity, table.compression_ratio).statistic
    assert agreement.loc["compression_ratio", "spearman"] == pytest.approx(rho)
    assert (agreement.n_datasets == 4).all()
    # four datasets: exact p values, multiples of 1/24 (the orderings of 4), the method named
    assert (agreement.spearman_p_method == "exact").all()
    assert np.allclose(agreement.spearman_p * 24, np.round(agreement.spearman_p * 24))
    page = (workdir / "results/report/baselines.html").read_text()
    assert page.count("<table") == 2 and "data:image/png;base64," in page
    assert ">nan<" not in page and "NaN" not in page.split("data:image/png;base64,")[0]
    # the activation baseline's interval is the bootstrap of the config's report settings
    report = yaml.safe_load((CONFIGS / "decisions.yaml").read_text())["report"]
    for dataset in table.index:
        vectors, _ = read_array(workdir / f"results/activations/{dataset}.zarr", "activations")
        coef = coefficient(cosine_distances(vectors[:10]), report["bootstrap_replicates"], report["bootstrap_seed"])
        assert table.loc[dataset, "activation_ci95_low"] == pytest.approx(coef.ci95_low, abs=1e-12)
        assert table.loc[dataset, "activation_ci95_high"] == pytest.approx(coef.ci95_high, abs=1e-12)


def test_changing_the_selection_floor_reruns_only_the_selection(decisions_run):
    workdir, config = decisions_run
    changed = {**config, "selection": {**config["selection"], "min_diversity": 0.01}}
    result = run_ok(workdir, changed, "-n")
    assert "selection_report" in result.stdout and "embed_shard" not in result.stdout
