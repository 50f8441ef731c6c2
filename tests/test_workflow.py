"""The whole pipeline with real Snakemake and real Zarr stores, on a tiny config in a temp dir."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from task2vec_diversity.distance import cosine_distance
from task2vec_diversity.store import open_group

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "tests/configs"  # the tests' workflow configs
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]

pytestmark = pytest.mark.workflow


def tiny_config(workdir: Path) -> dict:
    docs = [" ".join("abcdefghij"[(i * k) % 10] for k in range(3 + i % 9)) for i in range(40)]
    (workdir / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    return yaml.safe_load((CONFIGS / "tiny.yaml").read_text())


def snakemake(workdir: Path, config: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow in ``workdir`` with ``config``; ``timeout``: the hang guard, in seconds."""
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([*SNAKEMAKE, "-d", str(workdir), *args], capture_output=True, text=True, timeout=timeout)


def run_ok(workdir: Path, config: dict, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run the workflow and require success (the end of its stderr is the failure message)."""
    result = snakemake(workdir, config, *args, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def planned_jobs(result: subprocess.CompletedProcess) -> dict:
    """Job counts from the 'Job stats' table of a dry run."""
    lines = result.stdout.splitlines() + result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Job stats"))
    jobs = {}
    for line in lines[start + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("workflow")
    config = tiny_config(workdir)
    run_ok(workdir, config)
    return workdir, config


def embedding_stores(workdir: Path, dataset: str) -> list[Path]:
    return sorted((workdir / "results/embeddings" / dataset).glob("*/batch*.zarr"))


def test_run_writes_report_embeddings_and_manifest(finished_run):
    workdir, _ = finished_run
    table = pd.read_csv(workdir / "results/report/diversity.csv")
    assert list(table.dataset) == ["upper_bound", "ginc", "local", "ginc_and_local"]
    assert list(table.kind) == ["dataset"] * 3 + ["pool"]
    assert list(table.n_batches) == [3, 3, 3, 6]
    assert (table.batch_size == 4).all() and (table.variant == "reference").all()
    assert ((table.diversity > 0) & (table.diversity < 1)).all()
    assert (table.ci95_low <= table.diversity).all() and (table.diversity <= table.ci95_high).all()
    markdown = (workdir / "results/report/diversity.md").read_text()
    assert markdown.startswith("# Diversity\n\n| rank | dataset | diversity [95% CI] |") and "nan" not in markdown
    assert (workdir / "results/report/diversity.png").stat().st_size > 1000
    assert (workdir / "results/report/distance_histograms.png").stat().st_size > 1000
    group = open_group(embedding_stores(workdir, "local")[2])
    attrs = dict(group.attrs)
    assert attrs["seed"] == 44 and attrs["identity"]["task2vec"]["variant"] == "reference"
    assert attrs["probe_revision"].startswith("sha256:") and attrs["versions"]["torch"]
    assert len(attrs["epoch_losses"]) == 1 and attrs["wall_seconds"] > 0
    assert group["embedding"].shape == (20 + 2 + 16 + 16 * 5 + 64 + 16,)
    manifest = pd.read_csv(workdir / "results/batches/local/manifest.tsv", sep="\t")
    assert len(manifest) == 12 and manifest.document_id.nunique() == 12
    assert (manifest.sampling_seed == 0).all() and manifest.tokenizer.str.startswith("results/probe").all()
    assert "loss" in next((workdir / "logs/embed_shard/local").glob("*/shard0000.log")).read_text()


def _embeddings(workdir, dataset):
    return np.stack([open_group(path)["embedding"][:] for path in embedding_stores(workdir, dataset)])


def test_pool_and_alignment_match_distances_computed_directly(finished_run):
    """Independent check: every pair's distance from the stored embeddings, by the formula."""
    workdir, _ = finished_run
    vectors = {name: _embeddings(workdir, name) for name in ("upper_bound", "ginc", "local")}

    def mean_distance(a, b, distinct_pairs):
        pairs = [(x, y) for i, x in enumerate(a) for j, y in enumerate(b) if not distinct_pairs or i < j]
        return np.mean([cosine_distance(x, y) for x, y in pairs])

    table = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")
    pooled = np.concatenate([vectors["ginc"], vectors["local"]])
    assert table.loc["ginc_and_local", "diversity"] == pytest.approx(mean_distance(pooled, pooled, True), abs=1e-6)
    alignment = pd.read_csv(workdir / "results/report/alignment_table.csv", index_col="train")
    assert list(alignment.index) == ["ginc", "local"] and list(alignment.columns) == ["upper_bound", "local"]
    for train in ("ginc", "local"):
        for eval_ in ("upper_bound", "local"):
            expected = 1 - mean_distance(vectors[train], vectors[eval_], train == eval_)
            assert alignment.loc[train, eval_] == pytest.approx(expected, abs=1e-6)
    long = pd.read_csv(workdir / "results/report/alignment.csv")
    assert ((long.alignment_ci95_low <= long.alignment) & (long.alignment <= long.alignment_ci95_high)).all()
    assert (workdir / "results/report/alignment_heatmap.png").stat().st_size > 1000


def test_noise_floor_and_decomposition_from_the_stored_embeddings(finished_run):
    """The noise floor recomputed from the stores (each batch's own embedding and its two
    re-embeddings), the GINC floor below its diversity, the decomposition adding up to it."""
    workdir, _ = finished_run
    table = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")
    for name in ("upper_bound", "ginc", "local"):
        own = _embeddings(workdir, name)
        folders = sorted((workdir / "results/embeddings" / name).glob("*/noise/first*/repeat*"))
        assert [f.name for f in folders] == ["repeat1", "repeat2"]
        repeats = [np.stack([open_group(p)["embedding"][:] for p in sorted(f.glob("batch*.zarr"))]) for f in folders]
        seeds = [open_group(f / "batch0002.zarr").attrs["seed"] for f in folders]
        assert seeds == [1_000_044, 2_000_044]
        stacked = [own, *repeats]
        expected = np.mean(
            [cosine_distance(stacked[r][i], stacked[s][i]) for i in range(3) for r in range(3) for s in range(r + 1, 3)]
        )
        assert table.loc[name, "noise_floor"] == pytest.approx(expected, abs=1e-9)
        assert table.loc[name, "n_noise_distances"] == 9
        assert table.loc[name, "diversity_above_noise"] == pytest.approx(table.loc[name, "diversity"] - expected)
        assert 0 < table.loc[name, "fisher_coordinates_above_eps"] <= 1
    assert table.loc["ginc", "noise_floor"] < table.loc["ginc", "diversity"]
    assert np.isnan(table.loc["ginc_and_local", "noise_floor"])
    parts = pd.read_csv(workdir / "results/report/decomposition.csv")
    totals = parts[parts.group == "total"].set_index("dataset")["contribution"]
    sums = parts[parts.group != "total"].groupby("dataset")["contribution"].sum()
    for name in ("upper_bound", "ginc", "local"):
        assert totals[name] == pytest.approx(table.loc[name, "diversity"], abs=1e-6)
        assert sums[name] == pytest.approx(totals[name], rel=1e-12)
    long = pd.read_csv(workdir / "results/report/alignment.csv").set_index(["train", "eval"])
    row = long.loc[("ginc", "upper_bound")]
    reference = (table.loc["ginc", "noise_floor"] + table.loc["upper_bound", "noise_floor"]) / 2
    assert row.cross_diversity_above_noise == pytest.approx(row.cross_diversity - reference)


def test_html_report_renders_every_caption(finished_run):
    """snakemake --report on the finished run: no caption leaves a docutils system message, and
    the diversity table is there as a page a browser shows (HTML), with its figure."""
    workdir, config = finished_run
    run_ok(workdir, config, "--report", str(workdir / "report.html"))
    page = (workdir / "report.html").read_text()
    assert "Undefined substitution" not in page and "System Message" not in page and "system-message" not in page
    assert "diversity.html" in page and "diversity.png" in page
    assert "diversity [95% CI]" in page  # the compact table on the first page (report/workflow.rst)


def test_another_config_file_is_refused_not_run_over_the_report(finished_run):
    workdir, config = finished_run
    (workdir / "other.yaml").write_text(yaml.safe_dump(config))
    assert (workdir / "results/report/configfiles.txt").read_text() == "config/config.yaml\n"
    other = ["--configfile", str(workdir / "other.yaml")]
    _fails_with_one_line(snakemake(workdir, config, *other), "holds the report of config/config.yaml, not of ")
    assert snakemake(workdir, config, "-n", *other).returncode == 0  # a plan overwrites nothing
    assert (workdir / "results/report/configfiles.txt").read_text() == "config/config.yaml\n"


def test_second_run_has_nothing_to_do(finished_run):
    workdir, config = finished_run
    result = snakemake(workdir, config, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changing_the_variant_reruns_the_embeddings(finished_run):
    workdir, config = finished_run
    changed = {**config, "task2vec": {**config["task2vec"], "variant": "exact"}}
    jobs = planned_jobs(snakemake(workdir, changed, "-n"))
    assert jobs == {
        "embed_shard": 9,
        "embed_noise": 6,
        "noise_floor": 3,
        "fisher_regime": 3,
        "distance_matrix": 3,
        "cross_distance_matrix": 3,
        "diversity_report": 1,
        "alignment_report": 1,
        "all": 1,
    }


def test_changing_the_probe_reruns_the_embeddings(finished_run):
    workdir, config = finished_run
    changed = {**config, "probe": {"build": {**config["probe"]["build"], "n_embd": 8}}}
    jobs = planned_jobs(snakemake(workdir, changed, "-n"))
    assert jobs["build_probe"] == 1 and jobs["embed_shard"] == 9 and jobs["sample_batches"] == 3
    assert jobs["prepare_dataset"] == 1  # the upper bound is made with the probe's tokenizer; GINC and files are not


def test_cosmetic_changes_rerun_the_report_only(finished_run):
    workdir, config = finished_run
    changed = {**config, "report": {**config["report"], "histogram_bins": 20}}
    changed["datasets"] = {**config["datasets"], "local": {**config["datasets"]["local"], "description": "mine"}}
    jobs = planned_jobs(snakemake(workdir, changed, "-n"))
    assert jobs == {"diversity_report": 1, "alignment_report": 1, "all": 1}


def _fails_with_one_line(result, message):
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert message in output, output[-3000:]
    assert "Traceback" not in output


def _outputs_intact(workdir):
    assert (workdir / "results/report/diversity.csv").exists()
    assert len(embedding_stores(workdir, "local")) == 3


def test_unknown_config_key_fails_with_one_line(finished_run):
    workdir, config = finished_run
    result = snakemake(workdir, {**config, "samplng": {}}, "-n")
    _fails_with_one_line(result, "error: config: unknown key 'samplng' in 'config'")
    _outputs_intact(workdir)


@pytest.mark.parametrize(
    "dataset, message",
    [
        ({"source": "files", "files": ["docs.jsonl"], "text_field": "body"}, "text field 'body' not found"),
        ({"source": "files", "files": ["few.jsonl"]}, "has 5 non-empty documents but 3 batches x 4 documents need 12"),
        ({"source": "files", "files": ["single.jsonl"]}, "batch 0 is all padding"),
    ],
)
def test_bad_dataset_fails_with_one_line_and_keeps_results(finished_run, dataset, message):
    workdir, config = finished_run
    (workdir / "few.jsonl").write_text("".join(json.dumps({"text": f"a {w}"}) + "\n" for w in "bcdef"))
    (workdir / "single.jsonl").write_text("".join(json.dumps({"text": w}) + "\n" for w in "abcdefghijkl"))
    changed = {**config, "datasets": {**config["datasets"], "bad": dataset}}
    result = snakemake(workdir, changed, "results/batches/bad/tokens.zarr")
    _fails_with_one_line(result, message)
    _outputs_intact(workdir)
    assert not (workdir / "results/batches/bad/tokens.zarr").exists()
