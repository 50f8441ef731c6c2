"""config/paper.yaml: it plans the whole paper, and it runs end to end on replicas of its hub
repositories (gpt2 and every dataset, tests/replicas.py) served by the loopback hub, at tiny sizes."""

import pandas as pd
import pytest
import yaml

from . import replicas
from .hub_server import commit_of
from .test_fetch import served
from .test_workflow import ROOT, planned_jobs, run_ok, snakemake

pytestmark = pytest.mark.workflow

PAPER = yaml.safe_load((ROOT / "config/paper.yaml").read_text())


DEMO = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def test_paper_config_plans_the_whole_paper(tmp_path):
    # as the README runs it: --configfile replaces the demo config (which is not merged into it)
    jobs = planned_jobs(snakemake(tmp_path, DEMO, "-n", "--configfile", str(ROOT / "config/paper.yaml")))
    datasets = PAPER["datasets"]
    per_job = PAPER["task2vec"]["embeddings_per_job"]
    assert len(datasets) == 14  # Table 1: 10 corpora, 2 bounds, 2 interleaved mixes
    sweeps = PAPER["sweeps"]
    # GINC: latent concepts at 2 vocabularies (9 values each), vocabulary at 2 concept counts (10 values each)
    sweep_points = sum(len(sweep["values"]) for sweep in sweeps.values())
    assert sweep_points == 38
    # 200 embeddings per Table 1 dataset, 150 per GINC point (80,000 sequences of 128 words)
    assert jobs["embed_shard"] * per_job == 200 * len(datasets) + 150 * sweep_points
    n = len(datasets) + sweep_points
    assert jobs["prepare_dataset"] + jobs["fetch_dataset"] == jobs["sample_batches"] == jobs["distance_matrix"] == n
    # the fetch stage: the 10 hub corpora and the 2 mixes of them, and GPT-2 once (probe and GINC base)
    assert jobs["fetch_dataset"] == 12 and jobs["fetch_probe"] == 1
    # pools reuse their datasets' embeddings: only cross matrices, 1 + 10 pairs, and 4 more for alignment
    assert jobs["cross_distance_matrix"] == 15
    assert jobs["diversity_report"] == jobs["alignment_report"] == jobs["sweep_report"] == 1
    # GPT-2 resized to each GINC vocabulary: 50 ... 20,000, ten of them (50 and 150 shared by the concept sweeps)
    assert jobs["build_probe"] == 10


def replica_config() -> dict:
    """config/paper.yaml as it is, at tiny sizes: 10 batches of 4 sequences of 16 tokens, one
    epoch, a shuffle buffer of 64, and one latent-concept and one vocabulary sweep of three small
    GINC points; every hub id (gpt2 and the datasets) unchanged, read from its replica."""
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["task2vec"].update(epochs=1, minibatch_size=2)
    config["sampling"].update(n_batches=10, batch_size=4, max_length=16)
    config["report"] = {"bootstrap_replicates": 100}
    for spec in config["datasets"].values():
        if spec["source"] == "hub":
            spec["shuffle_buffer"] = 64
    sweeps = {}
    for name in ("ginc_concepts_vocab50", "ginc_vocabulary_concepts10"):
        sweep = config["sweeps"][name]
        dataset = {**sweep["dataset"], "n_documents": 4, "document_length": 160, "sampling": {"n_batches": 10}}
        sweeps[name] = {**sweep, "dataset": dataset, "values": sweep["values"][:3]}
    config["sweeps"] = sweeps
    return config


def test_paper_config_runs_end_to_end_on_the_hubs_replicas(tmp_path_factory, tmp_path):
    """Through the loopback hub: gpt2 and every dataset by its hub id, fetched as from the hub."""
    config = replica_config()
    paths = {spec["path"] for spec in config["datasets"].values() if spec["source"] == "hub"}
    with served(replicas.hub_root(tmp_path_factory.mktemp("hub"), datasets=paths)):
        # the longest workflow test: about 8 minutes on a quiet 2-core machine, so a 45-minute guard
        run_ok(tmp_path, config, timeout=2700)
    table = pd.read_csv(tmp_path / "results/report/diversity.csv").set_index("dataset")
    swept = [f"{name}_{value}" for name, sweep in config["sweeps"].items() for value in sweep["values"]]
    assert list(table.index) == [*PAPER["datasets"], *swept, *PAPER["pools"]]
    points = pd.read_csv(tmp_path / "results/report/sweeps.csv")
    assert list(points.dataset) == swept and points.diversity.between(0, 1).all()
    fits = pd.read_csv(tmp_path / "results/report/sweep_fits.csv")
    assert list(fits.sweep) == list(config["sweeps"]) and fits.r2.between(0, 1).all()
    assert table.loc["five_pile_subsets", "n_batches"] == 50 and table.loc["five_pile_subsets", "kind"] == "pool"
    assert table.loc["c4", "paper_diversity"] == 0.2374
    assert table.loc["c4", "difference"] == pytest.approx(table.loc["c4", "diversity"] - 0.2374)
    assert table.diversity.between(0, 1).all()
    for name, spec in PAPER["datasets"].items():  # each at its repository's commit, GPT-2 at gpt2's
        if spec["source"] == "hub":
            assert table.loc[name, "dataset_revision"] == commit_of(spec["path"]), name
    assert (table.loc[list(PAPER["datasets"]), "probe_revision"] == commit_of("openai-community/gpt2")).all()
    manifest = pd.read_csv(tmp_path / "results/batches/mix1/manifest.tsv", sep="\t")
    sources = manifest.document_id.str.split(":").str[0]
    assert (sources.groupby(manifest.batch).value_counts().unstack()[["c4", "wikitext_103"]] == [3, 1]).all().all()
    alignment = pd.read_csv(tmp_path / "results/report/alignment_table.csv", index_col="train")
    assert list(alignment.index) == PAPER["alignment"]["train"]
    assert list(alignment.columns) == PAPER["alignment"]["eval"]
