"""config/paper.yaml: it plans the whole paper, and its rules run end to end on local
stand-ins of its hub datasets (same loading code path, fields and structure) with a tiny probe."""

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

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


def _hub_stand_in(directory: Path, spec: dict, n_documents: int, rng_seed: int) -> None:
    """A local dataset directory shaped like the hub repo: a config name when the entry has
    one (declared in the card, as on the hub), the text field, and the Pile's meta field."""
    directory.mkdir(parents=True, exist_ok=True)
    labels = ["Pile-CC", "HackerNews", "NIH ExPorter", "PubMed Abstracts", "USPTO Backgrounds"]
    words = f"w{rng_seed} alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    rows = []
    for i in range(n_documents):
        text = " ".join(words[(i * k + rng_seed) % len(words)] for k in range(5 + i % 17))
        rows.append({"text": "" if i % 11 == 5 else text, "meta": {"pile_set_name": labels[i % len(labels)]}})
    (directory / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if spec.get("name"):  # one config per name; several datasets of the config may share a repository
        readme = directory / "README.md"
        card = yaml.safe_load(readme.read_text().strip("-\n")) if readme.exists() else {"configs": []}
        card["configs"].append({"config_name": spec["name"], "data_files": [{"split": "train", "path": "train.jsonl"}]})
        readme.write_text("---\n" + yaml.safe_dump(card) + "---\n")


def stand_in_config(workdir: Path, probe: dict) -> dict:
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["probe"] = {"id": probe["id"]}
    config["task2vec"].update(epochs=1, minibatch_size=2)
    config["sampling"].update(n_batches=10, batch_size=4, max_length=16)
    config["report"] = {"bootstrap_replicates": 100}
    for seed, spec in enumerate(config["datasets"].values()):
        if spec["source"] == "hub":
            local = workdir / "hub" / spec["path"]
            _hub_stand_in(local, spec, 300, seed)
            spec["path"] = str(local)
            spec["shuffle_buffer"] = 64
    # one latent-concept sweep and one vocabulary sweep, three points each, small GINC,
    # the local probe standing in for GPT-2 as the base model resized to each vocabulary
    sweeps = {}
    for name in ("ginc_concepts_vocab50", "ginc_vocabulary_concepts10"):
        sweep = config["sweeps"][name]
        base = sweep["dataset"]
        build = {"from": probe["id"], "from_revision": None, "n_symbols": base["n_symbols"]}
        dataset = {**base, "n_documents": 4, "document_length": 160, "sampling": {"n_batches": 10}}
        sweeps[name] = {**sweep, "dataset": {**dataset, "probe": {"build": build}}, "values": sweep["values"][:3]}
    config["sweeps"] = sweeps
    return config


def test_paper_rules_run_end_to_end_on_local_stand_ins(tmp_path, text_probe):
    config = stand_in_config(tmp_path, text_probe)
    run_ok(tmp_path, config)
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
    manifest = pd.read_csv(tmp_path / "results/batches/mix1/manifest.tsv", sep="\t")
    sources = manifest.document_id.str.split(":").str[0]
    assert (sources.groupby(manifest.batch).value_counts().unstack()[["c4", "wikitext_103"]] == [3, 1]).all().all()
    alignment = pd.read_csv(tmp_path / "results/report/alignment_table.csv", index_col="train")
    assert list(alignment.index) == PAPER["alignment"]["train"]
    assert list(alignment.columns) == PAPER["alignment"]["eval"]
