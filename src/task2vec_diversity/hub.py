"""The hub: what the fetch stage downloads, and how every other job reads only local copies.

Only the fetch stage uses the network: rule ``fetch_probe`` resolves each hub model to its
commit and downloads its files into ``results/hub/probes/<id>@<revision>``; rule
``fetch_dataset`` streams each hub dataset's pool (sources.stream_hub). Every other job runs with
``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` (set when the Snakefile is parsed, so that
local and SLURM jobs inherit them) and loads hub models from their local copy, or stops with one
line naming the missing file and the rule that fetches it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .config import is_hub_id, snapshot_path
from .errors import UserError

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
SAVED = "TASK2VEC_HUB_ENV"  # the user's own values, for the fetch stage
RECORD = "task2vec_fetch.json"  # in a local copy: hub id, revision asked for, commit, files
AGENT_ORIGIN = "task2vec-diversity-fetch"  # in the user agent of the fetch stage's requests


class MissingLocalCopy(UserError):
    """A job that runs offline needs a file the fetch stage did not store."""


def offline_jobs(environ=os.environ) -> None:
    """Every job started from this process (a script, a SLURM job re-parsing the Snakefile)
    runs with the hub offline; the user's own values are kept for the fetch stage."""
    environ.setdefault(SAVED, json.dumps({k: environ.get(k) for k in OFFLINE}))
    environ.update(OFFLINE)


def online(environ=os.environ) -> None:
    """In a fetch script, before anything imports huggingface_hub: the user's own settings."""
    saved = json.loads(environ.get(SAVED, "{}"))
    environ.setdefault("HF_HUB_USER_AGENT_ORIGIN", AGENT_ORIGIN)  # names our requests in the hub's logs
    for key in OFFLINE:
        if saved.get(key) is None:
            environ.pop(key, None)
        else:
            environ[key] = saved[key]


def is_offline(environ=os.environ) -> bool:
    return all(environ.get(k) == v for k, v in OFFLINE.items())


def probe_files(siblings: list[str]) -> list[str]:
    """The files of a model repository a probe needs: the top-level configs, tokenizer and
    processor files and the PyTorch weights (safetensors, else pytorch_model*.bin); not the
    TensorFlow, Flax, ONNX or other copies (gpt2's repository holds 5 GB of those)."""
    top = [f for f in siblings if "/" not in f]
    weights = [f for f in top if f.endswith(".safetensors")] or [
        f for f in top if f.startswith("pytorch_model") and f.endswith(".bin")
    ]
    return sorted({f for f in top if f.endswith((".json", ".txt", ".model", ".tiktoken"))} | set(weights))


def fetch_probe(repo_id: str, revision: str | None, out_dir: str, log_line) -> str:
    """Resolve a hub model's revision to its commit and download the files a probe needs at
    that commit into ``out_dir``. The download goes to ``<out_dir>.partial`` first, which
    huggingface_hub resumes when a fetch was killed; returns the commit."""
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(repo_id, revision=revision)
    files = probe_files([s.rfilename for s in info.siblings or []])
    if not any(f.endswith((".safetensors", ".bin")) for f in files):
        raise UserError(
            f"probe '{repo_id}' at {info.sha} has no PyTorch weights (safetensors or .bin); choose another model"
        )
    log_line(f"probe {repo_id}: revision {revision or 'main'} is commit {info.sha}; fetching {', '.join(files)}")
    partial = Path(f"{out_dir}.partial")
    snapshot_download(repo_id, revision=info.sha, local_dir=partial, allow_patterns=files)
    shutil.rmtree(partial / ".cache", ignore_errors=True)  # huggingface_hub's resume metadata
    record = {"id": repo_id, "revision": revision, "commit": info.sha, "files": files}
    (partial / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(out_dir)
    return info.sha


def local_copy(repo_id: str, revision: str | None) -> str:
    """The local copy of a hub model that an offline job reads, after checking that every file
    the fetch stage stored is there; one line naming what is missing otherwise."""
    path = snapshot_path(repo_id, revision)
    fix = f"delete {path} and run the workflow again: rule fetch_probe fetches it"
    record = Path(path) / RECORD
    if not record.exists():
        raise MissingLocalCopy(
            f"probe '{repo_id}': {record} is missing (jobs other than the fetch stage run offline); {fix}"
        )
    for name in json.loads(record.read_text())["files"]:
        if not (Path(path) / name).exists():
            raise MissingLocalCopy(
                f"probe '{repo_id}': {path}/{name} is missing from its local copy (jobs other than the fetch stage "
                f"run offline); {fix}"
            )
    return path


def pretrained_source(repo_id: str, revision: str | None) -> tuple[str, str | None]:
    """What ``from_pretrained`` reads: a local directory as given, a hub id from its local copy."""
    if not is_hub_id(repo_id):
        return repo_id, revision
    return local_copy(repo_id, revision), None


def commit(path: str) -> str | None:
    """The hub commit of a local copy made by the fetch stage (None for other directories)."""
    record = Path(path) / RECORD
    return json.loads(record.read_text())["commit"] if record.exists() else None
