"""The fetch stage and offline jobs: a probe and a dataset given as hub ids, served by a loopback
stand-in of the hub (tests/hub_server.py) behind HF_ENDPOINT; document ids of a multi-shard
source; retries, resume and progress of a streamed download."""

from __future__ import annotations

import json
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from task2vec_diversity import hub, sources
from task2vec_diversity.store import open_group

from . import replicas
from .hub_server import Hub, commit_of
from .test_workflow import snakemake

PROBE_ID, DATASET_ID = "gpt2", "monology/pile-uncopyrighted"
LABELS = ["Pile-CC", "NIH ExPorter", "HackerNews"]


def write_shards(folder: Path, n_shards: int, rows: int) -> None:
    """A hub-shaped dataset: data/train-0000k-of-0000n.jsonl, text and the Pile's meta field."""
    (folder / "data").mkdir(parents=True, exist_ok=True)
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    for s in range(n_shards):
        lines = []
        for r in range(rows):
            text = " ".join(words[(s * 7 + r * k) % len(words)] for k in range(3 + r % 9)) + f" s{s}r{r}"
            lines.append(json.dumps({"text": text, "meta": {"pile_set_name": LABELS[(s + r) % len(LABELS)]}}))
        (folder / f"data/train-{s:05d}-of-{n_shards:05d}.jsonl").write_text("\n".join(lines) + "\n")


def row_text(folder: Path, document_id: str) -> str:
    """The text of a document id '<data file>:<row>', read back from the source itself."""
    name, row = document_id.rsplit(":", 1)
    return json.loads((folder / name).read_text().splitlines()[int(row)])["text"]


def hub_spec(path, **extra) -> dict:
    spec = {"source": "hub", "path": str(path), "split": "train", "text_field": "text", "streaming": True}
    spec.update(shuffle_buffer=8, order="random")
    spec["sampling"] = {"n_batches": 5, "batch_size": 8, "seed": 0, "reuse_documents": False}
    return {**spec, **extra}


# --- document ids (issue 14 item 3): a local 4-shard hub-shaped folder, 40 documents ---


def test_ids_of_a_multi_shard_source_are_unique_and_traceable(tmp_path):
    write_shards(tmp_path, n_shards=4, rows=10)
    pool = sources.prepare(
        "four", {**hub_spec(tmp_path), "sampling": {**hub_spec(tmp_path)["sampling"], "n_batches": 5}}
    )
    assert len(pool) == 40 and pool.document_id.nunique() == 40  # main gave 10 distinct ids
    for document_id, text in zip(pool.document_id, pool.text):
        assert row_text(tmp_path, document_id) == text
    assert {i.rsplit(":", 1)[0] for i in pool.document_id} == {f"data/train-{s:05d}-of-00004.jsonl" for s in range(4)}
    # shuffled: not in file order, and another seed gives another order of the same documents
    assert list(pool.document_id) != sorted(pool.document_id)
    other = sources.prepare("four", {**hub_spec(tmp_path), "sampling": {**hub_spec(tmp_path)["sampling"], "seed": 1}})
    assert set(other.document_id) == set(pool.document_id) and list(other.document_id) != list(pool.document_id)


def test_more_documents_keep_the_first_ones_in_order(tmp_path):
    write_shards(tmp_path, n_shards=4, rows=30)
    spec = hub_spec(tmp_path)
    small = sources.prepare("d", spec)
    large = sources.prepare("d", {**spec, "sampling": {**spec["sampling"], "n_batches": 10}})
    assert list(large.document_id[: len(small)]) == list(small.document_id)


# --- retries and resume of a streamed download ---


class Flaky:
    """Wraps datasets' IterableDataset.__iter__ to fail (as a dropped connection would) once
    ``after`` rows were yielded in all, ``times`` times in a row, and counts the rows it yields."""

    def __init__(self, monkeypatch, error: Exception, after: int, times: int):
        import datasets

        self.error, self.after, self.left, self.rows = error, after, times, 0
        original = datasets.IterableDataset.__iter__
        flaky = self

        def iterate(ds):
            for row in original(ds):
                if flaky.rows == flaky.after and flaky.left:
                    flaky.left -= 1
                    raise flaky.error
                flaky.rows += 1
                yield row

        monkeypatch.setattr(datasets.IterableDataset, "__iter__", iterate)


def test_a_network_error_retries_with_backoff_from_where_it_stopped(tmp_path, monkeypatch, caplog):
    write_shards(tmp_path, n_shards=3, rows=20)
    expected = sources.prepare("d", hub_spec(tmp_path))
    waits = []
    monkeypatch.setattr(hub, "pause", waits.append)
    Flaky(monkeypatch, ConnectionError("connection reset by peer"), after=5, times=3)
    with caplog.at_level(logging.WARNING, logger="task2vec_diversity"):
        pool = sources.prepare("d", hub_spec(tmp_path))
    pd.testing.assert_frame_equal(pool, expected)
    assert waits == [hub.RETRY_SECONDS, 2 * hub.RETRY_SECONDS, 4 * hub.RETRY_SECONDS]
    assert "retry 1/8" in caplog.text and "connection reset by peer" in caplog.text


def test_a_persistent_network_error_is_one_line(tmp_path, monkeypatch):
    write_shards(tmp_path, n_shards=2, rows=20)
    monkeypatch.setattr(hub, "pause", lambda seconds: None)
    Flaky(monkeypatch, TimeoutError("timed out"), after=3, times=100)
    with pytest.raises(hub.UserError, match=r"network failed 9 times in a row .*resumes from its last part"):
        sources.prepare("d", hub_spec(tmp_path))


def test_other_errors_are_not_retried(tmp_path, monkeypatch):
    write_shards(tmp_path, n_shards=2, rows=20)
    Flaky(monkeypatch, ValueError("bad row"), after=3, times=1)
    with pytest.raises(ValueError, match="bad row"):
        sources.prepare("d", hub_spec(tmp_path))


def test_a_killed_download_resumes_from_its_last_part(tmp_path, monkeypatch, caplog):
    write_shards(tmp_path, n_shards=3, rows=40)
    spec = hub_spec(tmp_path, filter={"field": "meta.pile_set_name", "value": "NIH ExPorter"})
    spec["sampling"]["n_batches"] = 3  # 24 documents + 8 in the shuffle buffer, of 40 kept
    expected = sources.prepare("d", spec)
    monkeypatch.setattr(sources, "PART_DOCUMENTS", 10)
    work = tmp_path / "download"
    Flaky(monkeypatch, KeyboardInterrupt(), after=75, times=1)  # killed after 75 rows read
    with pytest.raises(KeyboardInterrupt):
        sources.prepare("d", spec, work_dir=work)
    saved = json.loads((work / "position.json").read_text())
    assert saved["parts"] == 2 and len(list(work.glob("part-*.parquet"))) == 2
    first_rows = saved["position"]["read"]
    monkeypatch.undo()
    monkeypatch.setattr(sources, "PART_DOCUMENTS", 10)
    flaky = Flaky(monkeypatch, KeyboardInterrupt(), after=10**9, times=0)
    with caplog.at_level(logging.INFO, logger="task2vec_diversity"):
        pool = sources.prepare("d", spec, work_dir=work)
    pd.testing.assert_frame_equal(pool, expected)  # the same pool as an uninterrupted download
    assert "resuming the download from its 2 parts" in caplog.text
    total = int(caplog.text.split("streamed d: ")[1].split(" documents read")[0])
    assert flaky.rows == total - first_rows  # the rows before the last part were not read again
    assert not work.exists()  # the parts go once the pool is complete


def test_progress_is_logged_while_streaming(tmp_path, monkeypatch, caplog):
    write_shards(tmp_path, n_shards=2, rows=40)
    monkeypatch.setattr(sources, "PROGRESS_SECONDS", 0.0)
    spec = hub_spec(tmp_path, filter={"field": "meta.pile_set_name", "value": "HackerNews"})
    spec["sampling"]["n_batches"] = 2
    with caplog.at_level(logging.INFO, logger="task2vec_diversity"):
        sources.prepare("d", spec)
    line = next(x for x in caplog.text.splitlines() if "streaming d:" in x)
    assert "documents read" in line and "kept" in line and "documents/s" in line and "left" in line


# --- the workflow with hub ids: fetch stage online, every other job offline ---
# the replicas of the hub's gpt2, the uncopyrighted Pile and WikiText (tests/replicas.py)

GPT2_REPO = replicas.ALIASES[PROBE_ID]  # the hub answers for gpt2 with openai-community/gpt2's commit
WIKITEXT = "Salesforce/wikitext"


def hub_repositories(root: Path) -> Path:
    return replicas.hub_root(root, datasets=[DATASET_ID, WIKITEXT])


def hub_config(workdir: Path) -> dict:
    words = "the of and to in is was for on that".split()
    docs = [" ".join(words[(i * k) % len(words)] for k in range(3 + i % 9)) + f" d{i}" for i in range(30)]
    (workdir / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    return {
        "probe": {"id": PROBE_ID},
        "task2vec": {"epochs": 1, "minibatch_size": 2, "embeddings_per_job": 1},
        "sampling": {"n_batches": 3, "batch_size": 4, "max_length": 16},
        "report": {"bootstrap_replicates": 100},
        "datasets": {
            "nih": {
                "source": "hub",
                "path": DATASET_ID,
                "text_field": "text",
                "shuffle_buffer": 8,
                "filter": {"field": "meta.pile_set_name", "value": "NIH ExPorter"},
            },
            "wiki_whole": {  # read whole, not streamed
                "source": "hub",
                "path": WIKITEXT,
                "name": "wikitext-103-raw-v1",
                "text_field": "text",
                "streaming": False,
            },
            "local": {"source": "files", "files": ["docs.jsonl"]},
        },
    }


@contextmanager
def served(root: Path):
    """The stand-in hub on loopback (renamed ids redirected as the hub does), with HF_ENDPOINT
    (and a fresh HF_HOME) pointing at it for the Snakemake runs started meanwhile."""
    with Hub(root, replicas.ALIASES) as server:
        env = {"HF_ENDPOINT": server.endpoint, "HF_HOME": str(root / "hf_home"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield server
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)


def check_offline(workdir: Path, server: Hub) -> None:
    """Only the fetch stage opened the hub: every request the stand-in saw carries the fetch
    stage's user agent, and every other job logged that it ran with the hub offline."""
    requests = server.requests()
    assert requests, "the fetch stage did not reach the stand-in hub"
    assert all(f"origin/{hub.AGENT_ORIGIN}" in r["agent"] for r in requests), [r["agent"] for r in requests][:3]
    assert any(r["path"].startswith(f"/api/models/{PROBE_ID}") for r in requests)
    assert any(r["path"].startswith(f"/datasets/{DATASET_ID}/resolve/") for r in requests)
    logs = {p.relative_to(workdir / "logs").parts[0]: p.read_text() for p in (workdir / "logs").rglob("*.log")}
    assert {"fetch_probe", "fetch_dataset", "prepare_dataset", "sample_batches", "embed_shard"} <= set(logs)
    for rule, text in logs.items():
        offline = "hub: offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1)" in text
        assert offline == (not rule.startswith("fetch_")), (rule, text[:300])


def replica_row(folder: Path, document_id: str) -> dict:
    """The row of a document id '<data file>:<row>', read back from a .jsonl.zst data file."""
    import zstandard

    name, row = document_id.rsplit(":", 1)
    lines = zstandard.ZstdDecompressor().decompressobj().decompress((folder / name).read_bytes()).splitlines()
    return json.loads(lines[int(row)])


def test_hub_ids_run_with_every_job_but_the_fetch_stage_offline(hub_run):
    workdir, _, server, _ = hub_run
    check_offline(workdir, server)


def test_the_probe_is_stored_at_its_commit_with_only_what_it_needs(hub_run):
    """From gpt2's whole file list (PyTorch, safetensors, TF, Flax, Rust, ONNX, TFLite weights),
    the fetch stage stores exactly the configs, the tokenizer files and model.safetensors."""
    workdir, *_ = hub_run
    snapshot = workdir / "results/hub/probes/gpt2@main"
    record = json.loads((snapshot / hub.RECORD).read_text())
    assert record["commit"] == commit_of(GPT2_REPO) and record["id"] == PROBE_ID
    assert record["files"] == replicas.GPT2_NEEDED
    stored = sorted(p.name for p in snapshot.iterdir() if not p.name.startswith("."))  # not Snakemake's marker
    assert stored == sorted([*replicas.GPT2_NEEDED, hub.RECORD])


def test_commits_are_in_the_pool_and_every_result(hub_run):
    workdir, *_ = hub_run
    pool = pd.read_parquet(workdir / "results/datasets/nih/documents.parquet")
    assert pool.attrs["dataset_revision"] == commit_of(DATASET_ID)
    batches = open_group(workdir / "results/batches/nih/tokens.zarr")
    assert batches.attrs["dataset_revision"] == commit_of(DATASET_ID)
    for store in (workdir / "results/embeddings/nih").rglob("batch*.zarr"):
        attrs = open_group(store).attrs
        assert attrs["dataset_revision"] == commit_of(DATASET_ID) and attrs["probe_revision"] == commit_of(GPT2_REPO)
    table = pd.read_csv(workdir / "results/report/diversity.csv").set_index("dataset")
    assert table.loc["nih", "dataset_revision"] == commit_of(DATASET_ID)
    assert table.loc["wiki_whole", "dataset_revision"] == commit_of(WIKITEXT)  # read whole: its commit too
    assert pd.isna(table.loc["local", "dataset_revision"])  # local files: no hub commit
    assert (table.probe_revision == commit_of(GPT2_REPO)).all() and table.diversity.between(0, 1).all()


def test_hub_document_ids_trace_to_their_file_and_row(hub_run):
    workdir, _, _, root = hub_run
    pool = pd.read_parquet(workdir / "results/datasets/nih/documents.parquet")
    manifest = pd.read_csv(workdir / "results/batches/nih/manifest.tsv", sep="\t")
    assert pool.document_id.is_unique and manifest.document_id.is_unique and len(manifest) == 12
    folder = root / "datasets" / DATASET_ID
    texts = dict(zip(pool.document_id, pool.text))
    for document_id in manifest.document_id:
        assert document_id.startswith("train/") and document_id.split(":")[0].endswith(".jsonl.zst")
        row = replica_row(folder, document_id)
        assert row["text"] == texts[document_id] and row["meta"]["pile_set_name"] == "NIH ExPorter"
    assert np.all(manifest.sha256 == [sources.text_sha(texts[i]) for i in manifest.document_id])


def test_a_job_whose_local_copy_is_missing_fails_with_one_line(hub_run, tmp_path):
    workdir, config, _, _ = hub_run
    work = tmp_path / "run"
    shutil.copytree(workdir, work, symlinks=True)  # the shared run stays whole for the other tests
    snapshot = work / "results/hub/probes/gpt2@main"
    (snapshot / "tokenizer.json").unlink()
    embeddings = sorted((work / "results/embeddings").rglob("batch*.zarr"))
    # no HF_ENDPOINT: were the job to reach for the network, it would find no hub at all
    result = snakemake(work, config, "--forcerun", "sample_batches", "--", "results/batches/nih/tokens.zarr")
    assert result.returncode != 0
    errors = [x for x in (work / "logs/sample_batches/nih.log").read_text().splitlines() if " ERROR " in x]
    assert len(errors) == 1, errors
    assert errors[0].endswith(
        f"probe '{PROBE_ID}': results/hub/probes/gpt2@main/tokenizer.json is missing from its local copy "
        "(jobs other than the fetch stage run offline); delete results/hub/probes/gpt2@main and run the "
        "workflow again: rule fetch_probe fetches it"
    )
    assert "Traceback" not in result.stderr
    assert sorted((work / "results/embeddings").rglob("batch*.zarr")) == embeddings  # earlier results kept
    assert (work / "results/report/diversity.csv").exists()


def test_a_hub_probe_without_its_local_copy_is_one_line(tmp_path, monkeypatch):
    from task2vec_diversity.probe import load_model, load_tokenizer

    monkeypatch.chdir(tmp_path)
    probe = {"id": "org/not-fetched", "revision": "v1", "init": "pretrained", "init_seed": 0, "build": None}
    expected = (
        "probe 'org/not-fetched': results/hub/probes/org--not-fetched@v1/task2vec_fetch.json is missing (jobs other "
        "than the fetch stage run offline); delete results/hub/probes/org--not-fetched@v1 and run the workflow "
        "again: rule fetch_probe fetches it"
    )
    for load in (load_tokenizer, load_model):
        with pytest.raises(hub.MissingLocalCopy) as error:
            load(probe)
        assert str(error.value) == expected


def test_fetch_where_is_local_or_cluster():
    from task2vec_diversity.config import ConfigError, validate

    base = {"probe": {"id": "gpt2"}, "datasets": {"u": {"source": "upper_bound"}}}
    assert validate(base)["fetch"] == {"where": "local"}
    assert validate({**base, "fetch": {"where": "cluster"}})["fetch"]["where"] == "cluster"
    with pytest.raises(ConfigError, match="'fetch.where' must be one of local, cluster, got 'login'"):
        validate({**base, "fetch": {"where": "login"}})


def test_a_network_failure_at_the_commit_lookup_retries_with_the_same_backoff(monkeypatch):
    """The first request of a fetch (the dataset's commit) retries as a stream in mid-flight does,
    then stops with one line."""
    from types import SimpleNamespace

    from huggingface_hub import HfApi

    calls, waits = [], []
    monkeypatch.setattr(hub, "pause", waits.append)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def dataset_info(self, repo_id, revision=None, failures=2):
        calls.append(repo_id)
        if len(calls) <= failures:
            raise ConnectionError("connection refused")
        return SimpleNamespace(sha="c0ffee")

    monkeypatch.setattr(HfApi, "dataset_info", dataset_info)
    assert hub.dataset_source({"path": "org/data", "revision": None}) == ("org/data", "c0ffee")
    assert waits == [hub.RETRY_SECONDS, 2 * hub.RETRY_SECONDS]
    always = lambda self, repo_id, revision=None: dataset_info(self, repo_id, failures=99)  # noqa: E731
    monkeypatch.setattr(HfApi, "dataset_info", always)
    failed = r"^dataset 'org/data': the network failed 9 times in a row \(ConnectionError"
    with pytest.raises(hub.UserError, match=failed):
        hub.dataset_source({"path": "org/data", "revision": None})
