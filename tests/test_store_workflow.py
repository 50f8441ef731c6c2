"""Damaged stores in a real run: the job that reads one stops with one line naming the store
and what to delete, exits non-zero and keeps the other results; doing what the line says
gives the original coefficients back. (Before stores carried checksums these runs printed
diversity 0.0, NaN, or zstd's traceback.)"""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from .test_workflow import run_ok, snakemake, tiny_config

pytestmark = pytest.mark.workflow


def small_config(workdir):
    config = tiny_config(workdir)
    config["datasets"] = {"local": config["datasets"]["local"]}
    del config["pools"], config["alignment"]
    return config


def fails_naming(result, store, problem):
    """Non-zero exit; the job's one line names the store, the problem and the fix; no traceback."""
    output = result.stdout + result.stderr
    assert result.returncode != 0
    line = f"ERROR store {store} (array "
    found = [row for row in output.splitlines() if line in row]
    assert found, output[-3000:]
    assert problem in found[0] and found[0].endswith(f"delete {store} and run the workflow again to recompute it")
    assert "Traceback" not in output


DOCS = Path(__file__).resolve().parents[1] / "docs/results.md"


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("stores")
    config = small_config(workdir)
    run_ok(workdir, config)
    return workdir, config


def test_the_notebook_example_runs_on_a_finished_run(finished, monkeypatch):
    """docs/results.md's example, extracted and run in the run's folder (its asserts check the
    API against the report: the matrix's mean is the reported diversity)."""
    workdir, _ = finished
    (code,) = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    code = code.replace('dataset = "ginc_4_concepts"', 'dataset = "local"')  # the demo's, here the test's
    assert 'dataset = "local"' in code
    monkeypatch.chdir(workdir)
    namespace = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    assert namespace["emb"].sizes == {"batch": 3, "component": 20 + 2 + 16 + 16 * 5 + 64 + 16}
    assert list(namespace["prov"]["seed"]) == [42, 43, 44]
    assert "diversity" in namespace["tables"]


def test_an_edited_pool_stops_with_one_line_and_the_fix_restores_the_results(finished):
    """Issue 25 case 4: one text of documents.parquet changed by hand used to be sampled and
    embedded (diversity 0.2214 instead of 0.2054, exit 0). Now its sampling stops, naming it;
    deleting it as told prepares it again and gives the same coefficients back."""
    workdir, config = finished
    table = workdir / "results/report/diversity.csv"
    before = pd.read_csv(table).set_index("dataset")["diversity"]
    pool = "results/datasets/local/documents.parquet"
    edited = pd.read_parquet(workdir / pool)
    edited.loc[0, "text"] = "a b c d e f g h i j"
    edited.to_parquet(workdir / pool)  # pandas keeps the attrs, checksum included
    result = snakemake(workdir, config)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    [line] = [row for row in result.stderr.splitlines() if " ERROR " in row]
    assert line.endswith(
        f"{pool} does not match its checksum (rows or attributes changed since it was written); "
        f"delete {pool} and run the workflow again to prepare it again"
    )
    (workdir / pool).unlink()
    run_ok(workdir, config)
    pd.testing.assert_series_equal(pd.read_csv(table).set_index("dataset")["diversity"], before)


def test_damaged_stores_stop_with_one_line_and_the_fix_restores_the_results(finished):
    tmp_path, config = finished
    table = tmp_path / "results/report/diversity.csv"
    before = pd.read_csv(table).set_index("dataset")["diversity"]
    assert (before > 0).all()
    embeddings = sorted((tmp_path / "results/embeddings/local").glob("*/batch*.zarr"))
    everything = sorted(p.relative_to(tmp_path) for p in (tmp_path / "results").rglob("*.zarr"))

    # a chunk of a distance matrix deleted, then a cosmetic change reruns the report: diversity was 0.0
    matrix = "results/distances/local.zarr"
    chunk = sorted(p for p in (tmp_path / matrix / "distances/c").rglob("*") if p.is_file())[0]
    chunk.unlink()
    cosmetic = {**config, "report": {**config["report"], "histogram_bins": 7}}
    fails_naming(snakemake(tmp_path, cosmetic), matrix, "does not match its checksum (1 of 1 chunks missing)")
    kept = [p for p in everything if str(p) != matrix]
    assert all((tmp_path / p).is_dir() for p in kept)

    shutil.rmtree(tmp_path / matrix)  # what the line says
    run_ok(tmp_path, cosmetic)
    pd.testing.assert_series_equal(pd.read_csv(table).set_index("dataset")["diversity"], before)

    # an embedding's chunk deleted (it read as zeros: NaN) and another's truncated (zstd's
    # traceback), then the matrix recomputed: each stops in turn, naming its store
    missing, truncated = (str(p.relative_to(tmp_path)) for p in embeddings[1:3])
    next(p for p in (tmp_path / missing / "embedding/c").rglob("*") if p.is_file()).unlink()
    chunk = next(p for p in (tmp_path / truncated / "embedding/c").rglob("*") if p.is_file())
    chunk.write_bytes(chunk.read_bytes()[:9])
    shutil.rmtree(tmp_path / matrix)
    fails_naming(snakemake(tmp_path, cosmetic, matrix), missing, "chunks missing")
    assert (tmp_path / embeddings[0]).is_dir() and (tmp_path / "results/batches/local/tokens.zarr").is_dir()

    shutil.rmtree(tmp_path / missing)
    fails_naming(snakemake(tmp_path, cosmetic, matrix), truncated, "cannot be decoded (RuntimeError: Zstd")

    shutil.rmtree(tmp_path / truncated)
    run_ok(tmp_path, cosmetic, "--forcerun", "diversity_report")  # the report from the matrix made again
    assert all((tmp_path / p).is_dir() for p in everything)
    after = pd.read_csv(table).set_index("dataset")["diversity"]
    pd.testing.assert_series_equal(after, before, check_exact=False, rtol=1e-9)
