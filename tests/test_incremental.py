"""The design card's promise: a finished run is extended, not redone. Adding a dataset or
batches computes only what is new, a killed run resumes to identical results."""

import os
import shutil
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml

from task2vec_diversity.store import open_group

from .test_workflow import SNAKEMAKE, planned_jobs, run_ok, snakemake, tiny_config

pytestmark = pytest.mark.workflow

# the jobs that a new dataset, or new batches of one dataset, plan: nothing of the others
ONE_DATASET_UPDATED = {
    "prepare_dataset": 1,
    "sample_batches": 1,
    "embed_shard": 2,
    "embed_noise": 1,
    "noise_floor": 1,
    "fisher_regime": 1,
    "distance_matrix": 1,
    "diversity_report": 1,
    "all": 1,
}


def small_config(workdir):
    config = tiny_config(workdir)
    config["sampling"]["n_batches"] = 2
    config["datasets"] = {name: config["datasets"][name] for name in ("ginc", "local")}
    del config["pools"], config["alignment"]
    config["noise_floor"] = {"seeds": 1}  # each batch embedded once more: one noise job per dataset
    return config


def embeddings(workdir, dataset) -> dict:
    """Batch number -> (embedding, modification time) of every store of a dataset."""
    out = {}
    for path in sorted((workdir / "results/embeddings" / dataset).glob("*/batch*.zarr")):
        group = open_group(path)
        out[int(group.attrs["batch"])] = (group["embedding"][:], path.stat().st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("incremental")
    config = small_config(workdir)
    run_ok(workdir, config)
    reference = {name: embeddings(workdir, name) for name in config["datasets"]}
    return workdir, config, reference


def test_adding_a_dataset_plans_only_its_jobs(finished):
    workdir, config, _ = finished
    added = {**config, "datasets": {**config["datasets"], "upper_bound": {"source": "upper_bound"}}}
    assert planned_jobs(snakemake(workdir, added, "-n")) == ONE_DATASET_UPDATED


def test_a_bad_input_added_to_a_finished_run_stops_before_any_job_and_keeps_everything(finished):
    """Issue 25: a missing data file added to a finished run gave "Nothing to be done" and a
    report without it; a folder deleted the six report files, then failed; a key given twice
    passed; a YAML tag was blamed on tabs. Each now stops at parse with one line, exit 1."""
    workdir, config, _ = finished
    (workdir / "folder").mkdir(exist_ok=True)
    made = {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}
    assert len([p for p in made if p.parent.name == "report"]) >= 6
    text = yaml.safe_dump(config, sort_keys=False)
    cases = {
        "bad: {source: files, files: [data/nope.jsonl]}": "error: dataset 'bad': data/nope.jsonl does not exist (in",
        "bad: {source: files, files: [folder], format: jsonl}": "error: dataset 'bad': folder is a folder, not a file",
        "local: {source: upper_bound}": "key 'local' is given twice in 'datasets' (first at line",
        "bad: !!python/object/apply:os.system ['touch hacked']": "the YAML tag !!python/object/apply:os.system (at",
    }
    for entry, message in cases.items():
        (workdir / "config/config.yaml").write_text(text.replace("datasets:\n", f"datasets:\n  {entry}\n", 1))
        result = subprocess.run([*SNAKEMAKE, "-d", str(workdir)], capture_output=True, text=True, timeout=300)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
        assert message in result.stderr.strip().splitlines()[-1]
    assert {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()} == made
    assert not (workdir / "hacked").exists()

    # known only once its rows are read: the new dataset's preparation fails, nothing else is touched
    (workdir / "broken.jsonl").write_text('{"text": "a b"}\n{"text": "c d"\n')
    broken = {**config, "datasets": {**config["datasets"], "broken": {"source": "files", "files": ["broken.jsonl"]}}}
    result = snakemake(workdir, broken)
    assert result.returncode == 1
    [line] = [row for row in result.stderr.splitlines() if " ERROR " in row]
    assert line.endswith(
        "dataset 'broken': broken.jsonl line 2 is not valid JSON (Expecting ',' delimiter at column 15); "
        "fix or remove that line"
    )
    assert "Traceback" in (workdir / "logs/prepare_dataset/broken.log").read_text()  # the loader's, in the log only
    assert {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()} == made


def test_a_killed_run_resumes_to_identical_results(finished, tmp_path):
    config = finished[1]
    config = {**config, "task2vec": {**config["task2vec"], "epochs": 3}}
    # the uninterrupted reference with the same settings, then the killed one
    ref_dir, killed_dir = tmp_path / "ref", tmp_path / "killed"
    for workdir in (ref_dir, killed_dir):
        workdir.mkdir()
        small_config(workdir)  # writes the local documents
    assert snakemake(ref_dir, config).returncode == 0
    snakemake(killed_dir, config, "-n")  # writes the config file
    process = subprocess.Popen(
        [*SNAKEMAKE, "-d", str(killed_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while not list((killed_dir / "results/embeddings").glob("*/*/batch*.zarr")):
        assert process.poll() is None and time.time() < deadline, "the run ended before any embedding was written"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # Snakemake and the jobs it started
    process.wait()
    done = list((killed_dir / "results/embeddings").glob("*/*/batch*.zarr"))
    assert 0 < len(done) < 4, "the kill must land in the middle of the embeddings"
    for store in done:  # whatever exists is whole: stores appear only when complete
        assert open_group(store)["embedding"].shape[0] > 0
    assert not (killed_dir / "results/report/diversity.csv").exists()

    assert snakemake(killed_dir, config, "--unlock").returncode == 0
    run_ok(killed_dir, config, "--rerun-incomplete")
    for name in config["datasets"]:
        resumed, uninterrupted = embeddings(killed_dir, name), embeddings(ref_dir, name)
        assert sorted(resumed) == sorted(uninterrupted) == [0, 1]
        for batch in resumed:
            np.testing.assert_array_equal(resumed[batch][0], uninterrupted[batch][0])
    pd.testing.assert_frame_equal(
        pd.read_csv(killed_dir / "results/report/diversity.csv"), pd.read_csv(ref_dir / "results/report/diversity.csv")
    )
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_lost_noise_job_is_redone_alone(finished):
    """A noise re-embedding whose job died (its store never written, so nothing after it ran)
    is planned alone with what reads it, and redone to the very same noise floor."""
    workdir, config, _ = finished
    floor = workdir / "results/distances/noise/ginc.zarr"
    before = open_group(floor)["distances"][:]
    (folder,) = (workdir / "results/embeddings/ginc").glob("*/noise/first*/repeat1")
    lost = {path.name: open_group(path)["embedding"][:] for path in folder.glob("batch*.zarr")}
    assert lost
    shutil.rmtree(folder)
    shutil.rmtree(floor)
    (workdir / "results/report/diversity.csv").unlink()
    assert planned_jobs(snakemake(workdir, config, "-n")) == {
        "embed_noise": 1,
        "noise_floor": 1,
        "diversity_report": 1,
        "all": 1,
    }
    run_ok(workdir, config)
    for name, vector in lost.items():
        np.testing.assert_array_equal(open_group(folder / name)["embedding"][:], vector)
    np.testing.assert_array_equal(open_group(floor)["distances"][:], before)


def test_adding_batches_computes_only_the_new_embeddings(finished):
    workdir, config, reference = finished
    manifest_before = pd.read_csv(workdir / "results/batches/local/manifest.tsv", sep="\t")
    more = {**config, "datasets": {**config["datasets"]}}
    more["datasets"]["local"] = {**config["datasets"]["local"], "sampling": {"n_batches": 4}}
    assert planned_jobs(snakemake(workdir, more, "-n")) == ONE_DATASET_UPDATED
    run_ok(workdir, more)
    after = embeddings(workdir, "local")
    assert sorted(after) == [0, 1, 2, 3]
    for batch, (vector, mtime) in reference["local"].items():
        assert after[batch][1] == mtime  # the store was not rewritten
        np.testing.assert_array_equal(after[batch][0], vector)
    manifest_after = pd.read_csv(workdir / "results/batches/local/manifest.tsv", sep="\t")
    first = manifest_after[manifest_after.batch < 2].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        first[["batch", "document_id", "sha256"]], manifest_before[["batch", "document_id", "sha256"]]
    )
    assert manifest_after.document_id.nunique() == 16  # the new batches hold new documents
    table = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")
    assert table.loc["local", "n_batches"] == 4 and table.loc["ginc", "n_batches"] == 2
    again = snakemake(workdir, more, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr
