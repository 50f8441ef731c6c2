"""GINC sweeps and per-dataset probes: config expansion, the quadratic-in-log fit, probes
resized from a base model, and the sweep report end to end."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from task2vec_diversity.config import built_probe_path, probe_spec, validate
from task2vec_diversity.sweeps import quadratic_log_fit

from .test_workflow import planned_jobs, run_ok, snakemake


def test_quadratic_log_fit_hand_example():
    # y = 1 + (ln x)^2 at ln x = 0, 1, 2: exact, so R^2 = 1
    fit = quadratic_log_fit([1.0, np.e, np.e**2], [1.0, 2.0, 5.0])
    assert (fit.intercept, fit.slope_log, fit.curvature_log) == pytest.approx((1.0, 0.0, 1.0), abs=1e-9)
    assert fit.r2 == pytest.approx(1.0)


def test_quadratic_log_fit_matches_polyfit_and_squared_correlation():
    rng = np.random.default_rng(0)
    x = np.array([1, 3, 10, 30, 100, 300, 1000, 3000, 10000], dtype=float)
    y = 0.02 + 0.01 * np.log(x) - 0.0005 * np.log(x) ** 2 + rng.normal(0, 0.002, len(x))
    fit = quadratic_log_fit(x, y)
    c2, c1, c0 = np.polyfit(np.log(x), y, 2)
    assert (fit.intercept, fit.slope_log, fit.curvature_log) == pytest.approx((c0, c1, c2), rel=1e-6)
    # for a least-squares fit with an intercept, R^2 is the squared correlation of y and the fit
    assert fit.r2 == pytest.approx(np.corrcoef(y, fit(x))[0, 1] ** 2, rel=1e-9)
    assert 0 < fit.r2 < 1


def test_sweeps_expand_into_datasets_whose_built_probe_follows_the_vocabulary():
    config = validate(
        {
            "probe": {"build": {"n_symbols": 50}},
            "sampling": {"n_batches": 150},  # GINC's 1000 documents of 10,240 words: 156 batches of 512 x 128
            "datasets": {"lower_bound": {"source": "lower_bound"}},
            "sweeps": {
                "concepts": {"dataset": {"source": "ginc"}, "vary": "n_concepts", "values": [1, 10, 100]},
                "vocab": {
                    "dataset": {"source": "ginc", "n_concepts": 5},
                    "vary": "n_symbols",
                    "values": [50, 150, 500],
                },
            },
        }
    )
    assert list(config["datasets"])[1:] == [f"concepts_{v}" for v in (1, 10, 100)] + [
        f"vocab_{v}" for v in (50, 150, 500)
    ]
    assert [config["datasets"][f"concepts_{v}"]["n_concepts"] for v in (1, 10, 100)] == [1, 10, 100]
    assert config["sweeps"]["vocab"] == {
        "vary": "n_symbols",
        "datasets": {50: "vocab_50", 150: "vocab_150", 500: "vocab_500"},
        "description": "",
    }
    probes = {name: probe_spec(config, name)["id"] for name in config["datasets"]}
    # one probe per vocabulary; the bounds and the concept sweep share the config's probe
    assert probes["lower_bound"] == probes["concepts_1"] == probes["vocab_50"] == probe_spec(config)["id"]
    assert len({probes["vocab_50"], probes["vocab_150"], probes["vocab_500"]}) == 3
    assert config["datasets"]["vocab_150"]["probe"]["build"]["n_symbols"] == 150
    assert probes["vocab_150"] == built_probe_path(config["datasets"]["vocab_150"]["probe"]["build"])


def test_dataset_probe_overrides_the_config_probe():
    config = validate(
        {
            "probe": {"id": "gpt2", "revision": "main"},
            "sampling": {"n_batches": 150},
            "datasets": {
                "a": {"source": "lower_bound"},
                "b": {"source": "ginc", "probe": {"build": {"from": "gpt2", "n_symbols": 50}}},
                "c": {"source": "upper_bound", "probe": {"revision": "abc"}},
            },
        }
    )
    assert probe_spec(config, "a")["id"] == "gpt2"
    b = probe_spec(config, "b")
    assert b["id"].startswith("results/probe/") and b["build"]["from"] == "gpt2" and b["build"]["n_layer"] == 2
    assert probe_spec(config, "c") == {**probe_spec(config, "a"), "revision": "abc"}


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A small causal LM with a larger vocabulary, saved as a hub model is."""
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("base")
    torch.manual_seed(3)
    GPT2LMHeadModel(GPT2Config(vocab_size=300, n_positions=32, n_embd=16, n_layer=1, n_head=2)).save_pretrained(path)
    return path


def test_probe_from_a_base_model_keeps_its_weights_and_resizes_the_embeddings(base_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from task2vec_diversity.config import PROBE_BUILD_DEFAULTS
    from task2vec_diversity.probe import build_probe

    build_probe({**PROBE_BUILD_DEFAULTS, "from": str(base_model), "n_symbols": 30}, tmp_path)
    base = AutoModelForCausalLM.from_pretrained(base_model)
    probe = AutoModelForCausalLM.from_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert len(tokenizer) == 32 and probe.config.vocab_size == 32
    assert probe.config.eos_token_id == tokenizer.eos_token_id == probe.config.pad_token_id
    wte, base_wte = probe.transformer.wte.weight, base.transformer.wte.weight
    assert torch.equal(wte, base_wte[:32]) and probe.lm_head.weight.data_ptr() == wte.data_ptr()
    assert torch.equal(probe.transformer.h[0].mlp.c_fc.weight, base.transformer.h[0].mlp.c_fc.weight)


def sweep_config(base_model: Path) -> dict:
    ginc = {"source": "ginc", "n_documents": 4, "document_length": 64}
    return {
        "probe": {"build": {"n_symbols": 20, "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 16}},
        "task2vec": {"epochs": 1, "minibatch_size": 2, "embeddings_per_job": 1},
        "sampling": {"n_batches": 3, "batch_size": 4, "max_length": 16},
        "report": {"bootstrap_replicates": 100},
        "datasets": {"upper_bound": {"source": "upper_bound"}},
        "sweeps": {
            "concepts": {"dataset": {**ginc, "n_symbols": 20}, "vary": "n_concepts", "values": [1, 4, 16]},
            "vocab": {
                "dataset": {**ginc, "n_concepts": 2, "probe": {"build": {"from": str(base_model)}}},
                "vary": "n_symbols",
                "values": [10, 20, 40],
            },
        },
    }


@pytest.mark.workflow
def test_sweep_report_end_to_end(base_model, tmp_path):
    config = sweep_config(base_model)
    jobs = planned_jobs(snakemake(tmp_path, config, "-n"))
    # the config's probe (bounds, concept sweep) and one resized base model per vocabulary
    assert jobs["build_probe"] == 4 and jobs["embed_shard"] == 7 * 3 and jobs["sweep_report"] == 1
    run_ok(tmp_path, config)

    diversity = pd.read_csv(tmp_path / "results/report/diversity.csv").set_index("dataset")
    points = pd.read_csv(tmp_path / "results/report/sweeps.csv")
    assert list(points.dataset) == [f"concepts_{v}" for v in (1, 4, 16)] + [f"vocab_{v}" for v in (10, 20, 40)]
    assert np.allclose(points.diversity, diversity.loc[points.dataset, "diversity"])
    fits = pd.read_csv(tmp_path / "results/report/sweep_fits.csv").set_index("sweep")
    for sweep, part in points.groupby("sweep"):
        c2, c1, c0 = np.polyfit(np.log(part.value), part.diversity, 2)
        assert fits.loc[sweep, ["intercept", "slope_log", "curvature_log"]].tolist() == pytest.approx([c0, c1, c2])
    assert (tmp_path / "results/report/sweeps.png").stat().st_size > 1000
    # each vocabulary point was embedded by a probe whose tokenizer covers exactly its symbols
    for value in (10, 20, 40):
        probe = diversity.loc[f"vocab_{value}", "probe"]
        assert probe.startswith("results/probe/")
        assert len(list((tmp_path / probe).glob("*.safetensors"))) == 1
        from transformers import AutoTokenizer

        assert len(AutoTokenizer.from_pretrained(tmp_path / probe)) == value + 2
    assert diversity.loc["vocab_20", "probe"] != diversity.loc["concepts_1", "probe"]
