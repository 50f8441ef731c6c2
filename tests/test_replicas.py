"""The real artifacts' shapes (tests/replicas.py): GPT-2 as the hub ships it and the datasets
our configs name, served by the loopback hub (tests/hub_server.py) through the calls a hub id
takes; and the cluster's offline habit: HF_HOME filled with `hf download` on the login node,
then the whole run with HF_HUB_OFFLINE=1, the fetch stage included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from task2vec_diversity import hub, inputs, sources
from task2vec_diversity.probe import load_model, load_tokenizer
from task2vec_diversity.store import open_group

from . import replicas
from .hub_server import Hub, commit_of
from .test_fetch import served
from .test_workflow import ROOT, snakemake

GPT2 = "openai-community/gpt2"
WIKITEXT = "Salesforce/wikitext"
HF_CLI = str(Path(sys.executable).parent / "hf")


def probe_spec(path, revision=None) -> dict:
    return {"id": str(path), "revision": revision, "init": "pretrained", "init_seed": 0, "build": None}


@pytest.fixture(scope="module")
def hub_folder(tmp_path_factory):
    return replicas.hub_root(tmp_path_factory.mktemp("replicas"))


# --- GPT-2 as the hub lays it out ---


def test_a_gpt2_shaped_folder_loads_with_a_revision_given(hub_folder):
    """The crash of issue 22: a revision passed by position became GPT2Tokenizer's vocab."""
    probe = probe_spec(hub_folder / "models" / GPT2, revision="main")
    tokenizer = load_tokenizer(probe)
    assert type(tokenizer).__name__ == "GPT2Tokenizer"  # picked from config.json's model_type, as for gpt2
    assert tokenizer.eos_token == "<|endoftext|>" and tokenizer.eos_token_id == len(tokenizer) - 1  # 50256 in gpt2
    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    ids = tokenizer("the city of work")["input_ids"]
    assert tokenizer.decode(ids) == "the city of work"  # byte-level BPE round trip
    model = load_model(probe)
    assert model.config.model_type == "gpt2" and model.config.n_layer == 2
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied, as in gpt2


def test_the_fetch_stage_picks_exactly_what_a_probe_needs_from_gpt2s_files(hub_folder):
    listing = hub.listing(hub_folder / "models" / GPT2)
    assert {"tf_model.h5", "flax_model.msgpack", "rust_model.ot", "64.tflite", "onnx/decoder_model.onnx"} <= set(
        listing
    )
    assert hub.probe_files(listing) == replicas.GPT2_NEEDED


def test_every_hub_dataset_of_our_configs_has_a_replica():
    """config/paper.yaml, config/corpora.yaml and the README's examples: each hub id has its
    replica here (so that the test runs below read the layout the hub serves)."""
    named = set()
    for name in ("paper.yaml", "corpora.yaml"):
        config = yaml.safe_load((ROOT / "config" / name).read_text())
        named |= {d["path"] for d in config["datasets"].values() if d.get("source") == "hub"}
    readme = (ROOT / "README.md").read_text().split("## Adding a dataset")[1].split("```yaml")[1].split("```")[0]
    named |= {d["path"] for d in yaml.safe_load(readme)["datasets"].values() if d.get("source") == "hub"}
    assert named and named <= set(replicas.DATASETS), named - set(replicas.DATASETS)


# --- the offline habit: what the cache lacks is one line ---


def test_an_offline_fetch_of_what_the_cache_lacks_is_one_line(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(hub.MissingFromCache) as error:
        hub.fetch_probe("gpt2", "main", str(tmp_path / "out"), print)
    assert str(error.value) == (
        f"model 'gpt2' at revision main is not in the Hugging Face cache ({tmp_path / 'hub'}) and the hub is offline "
        "(HF_HUB_OFFLINE=1); fill the cache on a node with internet and the same HF_HOME: "
        "hf download gpt2 --revision main"
    )
    spec = {"source": "hub", "path": WIKITEXT, "revision": None}
    with pytest.raises(hub.MissingFromCache, match=r"hf download Salesforce/wikitext --repo-type dataset$"):
        hub.dataset_source(spec)
    assert not (tmp_path / "out").exists()


# --- a local hub-shaped folder: its git commit, or its files' hashes ---


def test_a_local_folder_is_named_by_its_git_commit_or_its_files(tmp_path, hub_folder):
    folder = tmp_path / "wikitext"
    shutil.copytree(hub_folder / "datasets" / WIKITEXT, folder)
    spec = {"source": "hub", "path": str(folder), "name": "wikitext-103-raw-v1"}
    hashed = inputs.files_sha256("w", spec)
    assert str(folder / "wikitext-103-raw-v1/train-00000-of-00002.parquet") in hashed and "README.md" in "".join(hashed)
    assert hub.dataset_source(spec) == (str(folder), None)
    # a git clone of the repository: its commit names it, and no file is hashed
    git = ["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "data"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert hub.dataset_source(spec) == (str(folder), head)
    assert inputs.files_sha256("w", spec) == {str(folder): f"git {head}"}
    # read whole (streaming: false), the pool records that commit too
    sampling = {"n_batches": 2, "batch_size": 4, "seed": 0, "reuse_documents": False}
    whole = {**spec, "split": "train", "text_field": "text", "streaming": False, "order": "random"}
    pool = sources.prepare("w", {**whole, "sampling": sampling})
    assert pool.attrs["dataset_revision"] == head and len(pool) == 8
    # an edit not committed: the folder is hashed again, the edited file with its new content
    edited = folder / "wikitext-103-raw-v1/train-00001-of-00002.parquet"
    table = pd.read_parquet(edited)
    table.loc[0, "text"] = "an edited line"
    table.to_parquet(edited)
    assert hub.dataset_source(spec) == (str(folder), None)
    assert inputs.files_sha256("w", spec)[str(edited)] != hashed[str(edited)]


# --- the offline habit: HF_HOME filled with `hf download`, then the run with the hub offline ---


@pytest.fixture(scope="module")
def offline_run(hub_run, tmp_path_factory):
    """After tests/conftest.py's hub_run (online, through the stand-in hub): HF_HOME filled with
    `hf download` from the stand-in, as on a login node, then the same config run with
    HF_HUB_OFFLINE=1 and HF_DATASETS_OFFLINE=1 for the whole run, plus a dataset whose probe is a
    local gpt2-shaped folder. The stand-in serves all along: a request of the offline run would
    be in its access log."""
    online, config, _, root = hub_run
    offline, home = tmp_path_factory.mktemp("offline"), tmp_path_factory.mktemp("hf_home")
    shutil.copy(online / "docs.jsonl", offline / "docs.jsonl")
    local = {**config["datasets"]["nih"], "probe": {"id": str(root / "models" / GPT2)}}
    offline_config = {**config, "datasets": {**config["datasets"], "nih_local_probe": local}}
    with served(root) as server:
        env = {**os.environ, "HF_HOME": str(home)}
        for args in (
            ["gpt2"],
            ["monology/pile-uncopyrighted", "--repo-type", "dataset"],
            [WIKITEXT, "--repo-type", "dataset"],
        ):
            done = subprocess.run([HF_CLI, "download", *args], env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
        seen = len(server.requests())
        os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(home))
        try:
            result = snakemake(offline, offline_config)
        finally:
            for key in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
                os.environ.pop(key)
        requests = server.requests()[seen:]
    assert result.returncode == 0, result.stderr[-3000:]
    return online, offline, requests


def test_the_offline_habit_runs_from_the_cache_without_a_request(offline_run):
    online, offline, requests = offline_run
    assert requests == []
    log = (offline / "logs/fetch_probe/gpt2@main.log").read_text()
    assert f"revision main is commit {commit_of(GPT2)} in the Hugging Face cache" in log
    assert "hub: offline" in log and "bug of the workflow" not in log
    assert "from the Hugging Face cache" in (offline / "logs/fetch_dataset/nih.log").read_text()
    # the same commits, and the same documents as the online fetch
    for name, repo in (("nih", "monology/pile-uncopyrighted"), ("wiki_whole", WIKITEXT)):
        a, b = (pd.read_parquet(d / f"results/datasets/{name}/documents.parquet") for d in (online, offline))
        pd.testing.assert_frame_equal(a, b)
        assert b.attrs["dataset_revision"] == commit_of(repo)
    table = pd.read_csv(offline / "results/report/diversity.csv").set_index("dataset")
    assert (table.drop("nih_local_probe").probe_revision == commit_of(GPT2)).all()
    # the local gpt2-shaped folder: loaded with its tokenizer, named by its weights' hash
    assert table.loc["nih_local_probe", "probe_revision"].startswith("sha256:")
    assert table.diversity.between(0, 1).all()
    store = next((offline / "results/embeddings/nih_local_probe").rglob("batch0000.zarr"))
    assert open_group(store).attrs["dataset_revision"] == commit_of("monology/pile-uncopyrighted")


# --- today's corpora: the fetch stage of config/corpora.yaml on their replicas ---


def test_the_corpora_config_fetches_every_dataset_from_its_replica(tmp_path, hub_folder):
    config = yaml.safe_load((ROOT / "config/corpora.yaml").read_text())
    config["sampling"] = {"n_batches": 2, "batch_size": 4, "max_length": 16}
    config["task2vec"]["embeddings_per_job"] = 1
    for spec in config["datasets"].values():
        spec.pop("sampling", None)
        if spec.get("source") == "hub":
            spec["shuffle_buffer"] = 8
        if spec.get("source") == "files":
            path = tmp_path / Path(spec["files"][0]).parent / "part-0.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(json.dumps({"text": t}) + "\n" for t in replicas._texts(7, 20)))
    with Hub(hub_folder, replicas.ALIASES) as server:
        env = {"HF_ENDPOINT": server.endpoint, "HF_HOME": str(tmp_path / "hf_home")}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            result = snakemake(tmp_path, config, "fetch")
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    assert result.returncode == 0, result.stderr[-3000:]
    for name, spec in config["datasets"].items():
        if spec.get("source") != "hub":
            continue
        pool = pd.read_parquet(tmp_path / f"results/datasets/{name}/documents.parquet")
        assert len(pool) == 8 and pool.attrs["dataset_revision"] == commit_of(spec["path"]), name
        if spec.get("streaming", True):  # streamed: each id is '<data file in the repository>:<row>'
            files = {i.rsplit(":", 1)[0] for i in pool.document_id}
            assert all((hub_folder / "datasets" / spec["path"] / f).is_file() for f in files), (name, files)
        else:  # read whole: the row's index in the split
            assert pool.document_id.astype(int).between(0, 199).all(), name
