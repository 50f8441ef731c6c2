"""What results are made from (issue 15 items 2, 3, 5, 6): local files as inputs, exact
duplicates dropped and counted, messages that name what is wrong, jobs that run the
checkout's library and record its version."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from task2vec_diversity import inputs
from task2vec_diversity.errors import ConfigError, DataError, UserError
from task2vec_diversity.runner import check_checkout
from task2vec_diversity.sources import prepare, text_sha
from task2vec_diversity.store import open_group

from .test_data import dataset_spec, texts, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--cores", "2"]


# --- 3. distinct batches hold distinct documents, by content ---


def test_a_file_listed_four_times_stops_with_the_distinct_count(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", texts(10))
    spec = dataset_spec({"source": "files", "files": [path] * 4})  # 3 batches x 4 need 12
    with pytest.raises(DataError, match=r"has 10 non-empty documents \(after dropping \d+ exact duplicates\) but"):
        prepare("d", spec)


@pytest.mark.parametrize("source", ["files", "hub"])
def test_exact_duplicates_are_dropped_and_counted(tmp_path, source):
    # in order: a b a(dup) "" c b(dup) d ... : the first 4 distinct need 6 rows, 2 of them duplicates
    docs = ["a x", "b x", "a x", "", "c x", "b x", "d x", "e x", "a x"]
    write_jsonl(tmp_path / "train.jsonl", docs)
    where = {"files": str(tmp_path / "train.jsonl")} if source == "files" else {"path": str(tmp_path)}
    spec = dataset_spec({"source": source, "order": "consecutive", "text_field": "text", **where}, 2, 2)
    pool = prepare("d", spec)
    assert list(pool.text) == ["a x", "b x", "c x", "d x"]
    assert [i.split(":")[-1] for i in pool.document_id] == ["0", "1", "4", "6"]  # the source's row numbers
    assert pool.attrs["duplicates_dropped"] == 2
    assert pool.attrs["empty_dropped"] == (1 if source == "files" else None)  # streaming skips them uncounted
    assert list(pool.sha256) == [text_sha(t) for t in pool.text]


# --- 5. messages that name what is wrong ---


@pytest.mark.parametrize(
    "values, kind",
    [(list(range(20)), "int"), ([[1, 2]] * 20, "list"), ([b"abc"] * 20, "bytes")],
)
def test_a_text_field_of_other_values_names_their_type(tmp_path, values, kind):
    pd.DataFrame({"text": values}).to_parquet(tmp_path / "d.parquet")
    spec = dataset_spec({"source": "files", "files": str(tmp_path / "d.parquet")})
    with pytest.raises(DataError, match=f"text field 'text' of .*d.parquet holds {kind} values, not text"):
        prepare("d", spec)


def test_non_utf8_bytes_name_the_file_whatever_rows_are_sampled(tmp_path):
    good = "".join(json.dumps({"text": t}) + "\n" for t in texts(30)).encode()
    (tmp_path / "d.jsonl").write_bytes(good + b'{"text": "caf\xe9"}\n')  # the last row, never in the first 12
    for order in ("consecutive", "random"):
        spec = dataset_spec({"source": "files", "files": str(tmp_path / "d.jsonl"), "order": order})
        with pytest.raises(DataError, match=r"d.jsonl is not UTF-8 \(byte 0xe9 at offset \d+, line 31\)"):
            prepare("d", spec)


def test_max_length_one_is_refused_at_parse():
    with pytest.raises(ConfigError, match="'sampling.max_length' must be an integer >= 2 \\(the probe predicts each"):
        dataset_spec({"source": "files", "files": "x.jsonl"}, max_length=1)


# --- 6. the library that runs ---


def test_library_version_is_this_checkout_and_its_source_hash():
    version = inputs.library_version()
    here = ROOT / "src" / "task2vec_diversity"
    assert version["path"] == str(here.resolve())
    sha = hashlib.sha256()
    for path in sorted(p for p in here.rglob("*") if p.suffix in (".py", ".yaml", ".json") and p.is_file()):
        sha.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    assert version["source_sha256"] == sha.hexdigest()[:16]
    assert version["version"].startswith(("git ", "sha256 "))


def test_a_job_with_another_copy_of_the_library_is_refused(tmp_path):
    (tmp_path / "task2vec_diversity").mkdir()  # the scripts of another checkout
    with pytest.raises(UserError, match="this job imported task2vec_diversity from .*, not the workflow's own"):
        check_checkout(SimpleNamespace(scriptdir=str(tmp_path)))
    check_checkout(SimpleNamespace(scriptdir=str(ROOT / "scripts")))


# --- 2, 3, 6 with real Snakemake: two file datasets ---


def write_docs(path: Path, docs) -> None:
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))


def run(workdir: Path, config: dict, *args: str, env=None) -> subprocess.CompletedProcess:
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([*SNAKEMAKE, "-d", str(workdir), *args], capture_output=True, text=True, timeout=900, env=env)


def outputs_of(workdir: Path, dataset: str) -> dict:
    """Every result file of a dataset, with its modification time."""
    found = {}
    for top in ("datasets", "batches", "embeddings", "distances"):
        for path in (workdir / "results" / top).rglob("*"):
            if path.relative_to(workdir / "results" / top).parts[0] in (dataset, f"{dataset}.zarr"):
                found[str(path)] = path.stat().st_mtime_ns
    assert found
    return found


@pytest.fixture(scope="module")
def two_file_datasets(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("inputs")
    write_docs(workdir / "a.jsonl", [f"a {w} b" for w in "cdefghij"])
    # b: each text twice in a row; the first 4 distinct ones take 7 rows, 3 of them duplicates
    write_docs(workdir / "b.jsonl", [f"{w} {v} {w}" for w, v in zip("abcdef", "ghijkl") for _ in range(2)])
    config = {
        "probe": {"build": {"n_symbols": 20, "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 16}},
        "task2vec": {"epochs": 1, "minibatch_size": 2, "embeddings_per_job": 1},
        "sampling": {"n_batches": 2, "batch_size": 2, "max_length": 8},
        "report": {"bootstrap_replicates": 20},
        "datasets": {
            "a": {"source": "files", "files": ["a.jsonl"]},
            "b": {"source": "files", "files": ["b.jsonl"], "order": "consecutive"},
        },
    }
    result = run(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, config


def test_the_report_counts_the_duplicates_dropped(two_file_datasets):
    workdir, _ = two_file_datasets
    table = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")
    assert table.loc["b", "duplicates_dropped"] == 3 and table.loc["a", "duplicates_dropped"] == 0
    assert "duplicates_dropped" in (workdir / "results/report/diversity.md").read_text()
    assert "and 3 exact duplicates" in (workdir / "logs/prepare_dataset/b.log").read_text()
    manifest = pd.read_csv(workdir / "results/batches/b/manifest.tsv", sep="\t")
    assert manifest.sha256.nunique() == len(manifest) == 4


def test_an_edited_file_reruns_its_dataset_only(two_file_datasets):
    workdir, config = two_file_datasets
    before = outputs_of(workdir, "b")
    new = [f"j {w} {w} i" for w in "abcdefgh"]
    write_docs(workdir / "a.jsonl", new)
    result = run(workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "prepare_dataset" in result.stderr and "Nothing to be done" not in result.stderr
    manifest = pd.read_csv(workdir / "results/batches/a/manifest.tsv", sep="\t")
    assert set(manifest.sha256) <= {text_sha(t) for t in new}  # the new file's documents
    pool = pd.read_parquet(workdir / "results/datasets/a/documents.parquet")
    assert pool.attrs["files_sha256"] == {"a.jsonl": hashlib.sha256((workdir / "a.jsonl").read_bytes()).hexdigest()}
    assert outputs_of(workdir, "b") == before  # the other dataset's results untouched


def test_jobs_import_the_checkouts_library_when_another_copy_comes_first(two_file_datasets, tmp_path):
    """Another copy of the package ahead on the path (as another checkout's install would be)."""
    workdir, config = two_file_datasets
    decoy = tmp_path / "decoy" / "task2vec_diversity"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy copy of task2vec_diversity was imported')\n")
    env = {**os.environ, "PYTHONPATH": str(decoy.parent)}
    result = run(workdir, config, "--forcerun", "distance_matrix", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    own = str((ROOT / "src" / "task2vec_diversity").resolve())
    attrs = dict(open_group(workdir / "results/distances/a.zarr").attrs)
    assert attrs["library"]["path"] == own and attrs["library"] == inputs.library_version()
    assert attrs["pool"]["library"]["path"] == own
