"""Issue 25: every failure a new user met gives one line naming the file, the cause and the
fix, before any job where it can be known then; no code from a model folder ever runs. The
library functions each case goes through, tested directly (the workflow runs are in
test_incremental.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from task2vec_diversity import inputs
from task2vec_diversity.config_text import check_text
from task2vec_diversity.errors import ConfigError, DataError

from .test_data import dataset_spec, texts, write_jsonl


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# --- a files dataset's files: checked when the workflow starts ---


@pytest.mark.parametrize(
    "make, listed, message",
    [
        (None, "nope.jsonl", "dataset 'd': nope.jsonl does not exist (in {cwd}); fix datasets.d.files or remove"),
        ("dir", "folder", "dataset 'd': folder is a folder, not a file; list its files (e.g. folder/*.jsonl) in"),
        ("empty", "empty.jsonl", "dataset 'd': empty.jsonl is empty; fix datasets.d.files or remove the dataset"),
        (None, "*.parquet", "dataset 'd': no file matches *.parquet (in {cwd}); fix datasets.d.files"),
    ],
)
def test_a_missing_folder_or_empty_file_is_refused_before_any_job(tmp_path, monkeypatch, make, listed, message):
    monkeypatch.chdir(tmp_path)
    if make == "dir":
        (tmp_path / listed).mkdir()
    elif make == "empty":
        (tmp_path / listed).touch()
    spec = dataset_spec({"source": "files", "files": [listed], "format": "jsonl"})
    with pytest.raises(DataError) as error:
        inputs.check_files("d", spec)
    assert one_line(error).startswith(message.format(cwd=tmp_path))
    write_jsonl(tmp_path / "ok.jsonl", texts(3))
    inputs.check_files("d", {**spec, "files": ["ok.jsonl"]})


# --- the config file's text: keys given twice, YAML tags ---


def test_a_key_given_twice_is_refused_naming_it_and_its_lines():
    text = "sampling: {n_batches: 2}\ndatasets:\n  a: {source: ginc}\n  b: {source: ginc}\n  a: {source: upper_bound}\n"
    with pytest.raises(ConfigError) as error:
        check_text(text, "config/config.yaml")
    assert one_line(error) == (
        "config: config/config.yaml line 5: key 'a' is given twice in 'datasets' (first at line 3); YAML would keep "
        "only the last: remove or rename one"
    )
    check_text(text.replace("  a: {source: upper", "  c: {source: upper"), "config/config.yaml")


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['touch hacked']", "!custom x", "!!set {a: null}"])
def test_a_yaml_tag_is_refused_naming_it_not_tabs(tag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        check_text(f"probe:\n  id: {tag}\n", "c.yaml")
    assert one_line(error).startswith(f"config: c.yaml line 2: the YAML tag {tag.split()[0]} (at 'probe.id') is not")
    assert not (tmp_path / "hacked").exists()


def test_a_configfile_snakemake_cannot_read_gets_its_line_from_the_config_text_command(tmp_path):
    """Snakemake reads a --configfile before the workflow starts: a tag there gets Snakemake's
    own words. The command its docs give names the line; a plain file is ok."""
    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("probe: {id: gpt2}\ndatasets:\n  a: !!python/object/apply:os.system ['touch hacked']\n")
    good.write_text("probe: {id: gpt2}\ndatasets:\n  a: {source: upper_bound}\n")
    command = [sys.executable, "-m", "task2vec_diversity.config_text"]
    result = subprocess.run([*command, str(bad)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 1 and result.stdout.count("\n") == 1, result.stdout + result.stderr
    assert result.stdout.startswith(f"error: config: {bad} line 3: the YAML tag !!python/object/apply:os.system (at")
    assert subprocess.run([*command, str(good)], capture_output=True, text=True).returncode == 0
    assert not (tmp_path / "hacked").exists()


# --- a probe folder: checked when the workflow starts, before the first job that needs it ---


def probe_folder(tmp_path, probe, drop=(), config=None):
    folder = tmp_path / "probe"
    shutil.copytree(probe["id"], folder)
    for name in drop:
        for path in folder.glob(name):
            path.unlink()
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))
    return str(folder)


@pytest.mark.parametrize(
    "drop, message",
    [
        (["config.json"], "has no config.json: it is not a model saved with save_pretrained; point it at the folder"),
        (["*.safetensors"], "has no weights (model.safetensors or pytorch_model.bin); save the model there with"),
        (["tokenizer*", "special_tokens_map.json"], "has no tokenizer (tokenizer.json or tokenizer_config.json); save"),
    ],
)
def test_a_probe_folder_without_config_weights_or_tokenizer_is_refused(tmp_path, text_probe, drop, message):
    folder = probe_folder(tmp_path, text_probe, drop)
    with pytest.raises(ConfigError) as error:
        inputs.check_probe_folder("probe.id", folder)
    assert message in one_line(error) and folder in one_line(error)


def test_a_mistyped_probe_path_is_one_line_and_hub_ids_pass(tmp_path, text_probe, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        inputs.check_probe_folder("probe.id", "./probes/gtp2")
    assert one_line(error).startswith("config: 'probe.id' is './probes/gtp2': there is no such folder (in ")
    for hub_id in ("gpt2", "EleutherAI/pythia-70m"):
        inputs.check_probe_folder("probe.id", hub_id)
    inputs.check_probe_folder("probe.id", text_probe["id"])
    # init: random needs the architecture only
    inputs.check_probe_folder("probe.id", probe_folder(tmp_path, text_probe, ["*.safetensors"]), weights=False)


# --- no code from a model folder: refused at parse, and a job cannot be told "y" on stdin ---

EVIL = """
import pathlib
pathlib.Path({marker!r}).write_text("the custom code ran")
from transformers import GPT2Config, GPT2LMHeadModel
class EvilConfig(GPT2Config):
    model_type = "evil"
class EvilModel(GPT2LMHeadModel):
    config_class = EvilConfig
"""

JOB = """
import sys
from types import SimpleNamespace
from task2vec_diversity.probe import load_model
from task2vec_diversity.runner import run

probe = {{"id": {folder!r}, "revision": None, "init": "pretrained", "init_seed": 0, "build": None}}
run(SimpleNamespace(log=[{log!r}]), lambda snakemake, log: load_model(probe))
"""


def test_a_probe_folder_with_custom_code_is_refused_and_its_code_never_runs(tmp_path, text_probe):
    """Issue 25: a config.json with auto_map made transformers ask [y/N] on stdin, and
    `yes y | snakemake` ran the folder's code. Refused at parse; in a job stdin is /dev/null."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "ran"
    config = json.loads((Path(text_probe["id"]) / "config.json").read_text())
    auto_map = {"AutoConfig": "evil.EvilConfig", "AutoModelForCausalLM": "evil.EvilModel"}
    config.update(model_type="evil", auto_map=auto_map)
    folder = probe_folder(tmp_path, text_probe, config=config)
    (tmp_path / "probe/evil.py").write_text(EVIL.format(marker=str(marker)))
    with pytest.raises(ConfigError) as error:
        inputs.check_probe_folder("probe.id", folder)
    assert one_line(error).startswith(f"config: probe folder {folder} ('probe.id'): config.json maps to custom code")

    (tmp_path / "job.py").write_text(JOB.format(folder=folder, log=str(tmp_path / "job.log")))
    src = str(Path(__file__).resolve().parents[1] / "src")  # this checkout's library, not an installed one
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": src}
    job = [sys.executable, str(tmp_path / "job.py")]
    job = subprocess.run(job, input="y\n" * 20, capture_output=True, text=True, env=env, timeout=300)
    assert job.returncode == 1 and "custom code" in job.stderr
    assert not marker.exists()


# --- a full disk: one line saying where, and that nothing computed is lost ---

FULL = """
import errno, sys
from types import SimpleNamespace
from task2vec_diversity.runner import run

def main(snakemake, log):
    raise OSError(errno.ENOSPC, "No space left on device", "results/embeddings/d/k/.batch0003.zarr.tmp7/c/0")

run(SimpleNamespace(log=[sys.argv[1]], output=["results/embeddings/d/k/batch0003.zarr"], rule="embed_shard"), main)
"""


def test_a_full_disk_gives_one_line_and_its_traceback_in_the_log(tmp_path):
    import subprocess
    import sys

    (tmp_path / "job.py").write_text(FULL)
    log = tmp_path / "job.log"
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(log)], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = [row for row in done.stderr.splitlines() if " ERROR " in row]
    assert "no space left on the device holding results/embeddings/d/k/.batch0003.zarr.tmp7/c/0 (" in line
    assert line.endswith(
        "nothing computed is lost: results are written whole or not at all, and this job's "
        "unfinished output was discarded"
    )
    assert "GiB free of" in line and "Traceback (most recent call last)" in log.read_text()


# --- local files: read without a copy in the home cache, and a bad line named ---


def test_local_files_are_read_without_a_copy_in_the_home_cache(tmp_path, monkeypatch):
    """Issue 25: every local files dataset was converted into ~/.cache/huggingface/datasets (a
    cluster's home quota). Now the Arrow copy lives under the dataset's work folder only while
    it is read; the rows are those datasets' own loader gives."""
    import datasets

    from task2vec_diversity.sources import prepare

    home = tmp_path / "home_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", home)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home))
    docs = texts(30)
    path = write_jsonl(tmp_path / "d.jsonl", docs)
    spec = dataset_spec({"source": "files", "files": [path], "order": "random"})
    work = tmp_path / "results/datasets/d/download"
    pool = prepare("d", spec, work_dir=work)
    reference = datasets.load_dataset("json", data_files=[path], split="train", cache_dir=str(tmp_path / "ref"))
    assert list(pool.text) == [reference["text"][int(i)] for i in pool.document_id]
    assert len(pool) == 12 and len(set(pool.document_id)) == 12
    assert not home.exists() and not work.exists()  # nothing in the home cache, the work folder gone


def lines(*rows) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


BIG = "w " * 600_000  # rows past datasets' 10 MB first chunk, whose fields it reads the schema from


@pytest.mark.parametrize(
    "content, message",
    [
        (
            lines({"text": "a b"}, '{"text": "c d"', {"text": "e f"}),
            "line 2 is not valid JSON (Expecting ',' delimiter at column 15)",
        ),
        (lines({"text": "a b"}, [1, 2]), "line 2 is a JSON list, not an object of fields (one document per line"),
        ("\n\n\n", "hold(s) no rows (blank lines only); fix datasets.d.files"),
        (
            lines(*[{"text": f"{i} {BIG}"} for i in range(9)], {"text": "late", "meta": {"a": 1}}),
            "line 10 has field(s) meta that the lines before it lack (the fields are read from the first lines)",
        ),
        (
            lines(*[{"text": f"{i} {BIG}", "n": i} for i in range(9)], {"text": "late", "n": "x"}),
            "line 10: field 'n' holds a str where the lines before it hold a int; give the field one type",
        ),
    ],
)
def test_a_bad_json_line_is_named_with_its_cause(tmp_path, content, message):
    """Issue 25: a malformed line gave three chained tracebacks (the row right, the cause
    wrong), a field that first appears late a CastError, blank lines a StopIteration."""
    from task2vec_diversity.sources import prepare

    (tmp_path / "d.jsonl").write_text(content)
    spec = dataset_spec({"source": "files", "files": [str(tmp_path / "d.jsonl")]})
    with pytest.raises(DataError) as error:
        prepare("d", spec, work_dir=tmp_path / "work")
    assert one_line(error).startswith(f"dataset 'd': {tmp_path / 'd.jsonl'} ")
    assert message in one_line(error)
