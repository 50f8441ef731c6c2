"""The hub: what the fetch stage downloads, and how every other job reads only local copies.

Only the fetch stage uses the network: rule ``fetch_probe`` resolves each hub model to its
commit and downloads its files into ``results/hub/probes/<id>@<revision>``; rule
``fetch_dataset`` streams each hub dataset's pool (sources.stream_hub). Every other job runs with
``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` (set when the Snakefile is parsed, so that
local and SLURM jobs inherit them) and loads hub models from their local copy, or stops with one
line naming the missing file and the rule that fetches it.

When the user runs the fetch stage with the hub offline (``HF_HUB_OFFLINE=1``, the cluster habit
of filling ``HF_HOME`` on the login node first), it reads the Hugging Face cache instead: each
revision resolves to the commit the cache's ref names, and what is missing there stops with one
line giving the ``hf download`` command that fills it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path

from .errors import UserError
from .kinds import SOURCE_KINDS

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
SAVED = "TASK2VEC_HUB_ENV"  # the user's own values, for the fetch stage
RECORD = "task2vec_fetch.json"  # in a local copy: hub id, revision asked for, commit, files
AGENT_ORIGIN = "task2vec-diversity-fetch"  # in the user agent of the fetch stage's requests
# a network error retries, waiting RETRY_SECONDS x 2^k (at most RETRY_MAX_SECONDS) before retry
# k + 1, RETRIES times in a row: the commit lookup, the first request and a stream in mid-flight
RETRIES = 8
RETRY_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub reads as set

log = logging.getLogger(__name__)


# --- what comes from the hub, and where its local copy lives ---


def is_hub_id(name) -> bool:
    """A probe or dataset named by a hub id rather than a local directory."""
    return bool(name) and not os.path.isdir(name)


def snapshot_path(repo_id: str, revision: str | None) -> str:
    """Where rule fetch_probe stores a hub model's files at the commit its revision resolves to."""
    slug = f"{repo_id}@{revision or 'main'}".replace("/", "--")
    return f"results/hub/probes/{slug}"


def hub_probes(config: dict) -> dict:
    """Every hub model a job loads, by its local copy: each dataset's probe (``id``) and the
    base of a built probe (``build.from``)."""
    found = {}
    for spec in config["datasets"].values():
        probe = spec["probe"]
        if probe["build"] is None:
            repo, revision = probe["id"], probe["revision"]
        else:
            repo, revision = probe["build"]["from"], probe["build"]["from_revision"]
        if is_hub_id(repo):
            found[snapshot_path(repo, revision)] = {"id": repo, "revision": revision}
    return found


def needs_hub(spec: dict) -> bool:
    """Whether preparing a dataset reads the hub: a hub dataset (or hub image dataset) given by
    id, or a mix with such a component. These are prepared by the fetch stage."""
    if spec["source"] == "mix":
        return any(needs_hub(part["spec"]) for part in spec["components"].values())
    return SOURCE_KINDS[spec["source"]].hub and is_hub_id(spec["path"])


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
    """Whether the hub is off for this process, read as huggingface_hub reads HF_HUB_OFFLINE."""
    return environ.get("HF_HUB_OFFLINE", "").upper() in TRUE


def network_error(error: BaseException) -> bool:
    """Errors worth a retry: the connection, a time-out, the hub's 429 and 5xx."""
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        return status is None or status == 429 or status >= 500
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(error, OfflineModeIsEnabled):  # an OSError, but the user's setting: no retry helps
        return False
    try:
        import httpx2 as httpx  # what huggingface_hub 2.x talks through
    except ImportError:  # pragma: no cover - older huggingface_hub
        import httpx
    return isinstance(error, (OSError, TimeoutError, httpx.TransportError))


def wait_before_retry(failures: int, error: BaseException, what: str, fix: str) -> None:
    """After the ``failures``-th network error in a row: wait the backoff and log it, or, past
    RETRIES, stop with one line."""
    if failures > RETRIES:
        raise UserError(
            f"{what}: the network failed {failures} times in a row ({type(error).__name__}: {error}); "
            f"check the network and run again{fix}"
        ) from error
    wait = min(RETRY_SECONDS * 2 ** (failures - 1), RETRY_MAX_SECONDS)
    log.warning(
        "network error (%s: %s) for %s; retry %d/%d in %.0f s",
        type(error).__name__,
        error,
        what,
        failures,
        RETRIES,
        wait,
    )
    pause(wait)


def pause(seconds: float) -> None:
    """The wait before a retry (a function of its own, so that tests can skip it)."""
    time.sleep(seconds)


def with_retries(what: str, call):
    """``call()``, retried with the backoff above when the network fails."""
    failures = 0
    while True:
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - only network errors are retried, the rest re-raised
            if not network_error(error):
                raise
            failures += 1
            wait_before_retry(failures, error, what, "")


class MissingFromCache(UserError):
    """The hub is offline for the fetch stage and the Hugging Face cache lacks a repository."""


def cached_snapshot(repo_id: str, revision: str | None, repo_type: str) -> tuple[str, str]:
    """The folder of a hub repository in the Hugging Face cache (``$HF_HOME/hub``, laid out as
    ``hf download`` writes it) at the commit its revision resolves to there (the cache's
    ``refs/<revision>``), and that commit: what the fetch stage reads when the hub is offline."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(repo_id, repo_type=repo_type, revision=revision, local_files_only=True)
    except LocalEntryNotFoundError:
        raise MissingFromCache(
            f"{repo_type} '{repo_id}' at revision {revision or 'main'} is not in the Hugging Face cache "
            f"({constants.HF_HUB_CACHE}) and the hub is offline (HF_HUB_OFFLINE=1); fill the cache on a node with "
            f"internet and the same HF_HOME: {download_command(repo_id, revision, repo_type)}"
        ) from None
    return folder, Path(folder).name


def download_command(repo_id: str, revision: str | None, repo_type: str, files=()) -> str:
    """The huggingface_hub command that puts a repository (or some of its files) in the cache."""
    kind = "" if repo_type == "model" else f" --repo-type {repo_type}"
    at = f" --revision {revision}" if revision else ""
    return f"hf download {repo_id}{' ' + ' '.join(files) if files else ''}{kind}{at}"


def listing(folder: str | Path) -> list[str]:
    """Every file of a repository folder (a cached snapshot's links followed), by its path in it."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts)


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
    """Resolve a hub model's revision to its commit and store the files a probe needs at that
    commit in ``out_dir``; returns the commit. Online, the files are downloaded to
    ``<out_dir>.partial`` first, which huggingface_hub resumes when a fetch was killed; with the
    hub offline they are copied from the Hugging Face cache."""
    partial = Path(f"{out_dir}.partial")
    if is_offline():
        folder, sha = cached_snapshot(repo_id, revision, "model")
        files = probe_files(listing(folder))
        _check_weights(repo_id, sha, files, download_command(repo_id, revision, "model", ["model.safetensors"]))
        log_line(
            f"probe {repo_id}: the hub is offline (HF_HUB_OFFLINE=1): revision {revision or 'main'} is commit {sha} in "
            f"the Hugging Face cache; copying {', '.join(files)} from {folder}"
        )
        for name in files:
            (partial / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(folder) / name, partial / name)
        source = f"cache {folder}"
    else:
        from huggingface_hub import HfApi, constants, snapshot_download

        info = with_retries(f"probe '{repo_id}'", lambda: HfApi().model_info(repo_id, revision=revision))
        sha, files = info.sha, probe_files([s.rfilename for s in info.siblings or []])
        _check_weights(repo_id, sha, files, "choose another model")
        log_line(f"probe {repo_id}: revision {revision or 'main'} is commit {sha}; fetching {', '.join(files)}")
        with_retries(
            f"probe '{repo_id}'",
            lambda: snapshot_download(repo_id, revision=sha, local_dir=partial, allow_patterns=files),
        )
        shutil.rmtree(partial / ".cache", ignore_errors=True)  # huggingface_hub's resume metadata
        source = f"hub {constants.ENDPOINT}"
    record = {"id": repo_id, "revision": revision, "commit": sha, "files": files, "from": source}
    (partial / RECORD).write_text(json.dumps(record, indent=1) + "\n")
    partial.replace(out_dir)
    return sha


def _check_weights(repo_id: str, sha: str, files: list[str], fix: str) -> None:
    if not any(f.endswith((".safetensors", ".bin")) for f in files):
        raise UserError(f"probe '{repo_id}' at {sha} has no PyTorch weights (safetensors or .bin); {fix}")


def dataset_source(spec: dict) -> tuple[str, str | None]:
    """Where a hub dataset's files are read from, and the commit they are at:
    - a local folder (a hub-shaped folder, e.g. a ``git clone`` of the repository) as given, at
      the commit of its clean git checkout (None otherwise: then its files are hashed, see
      inputs.identity_files);
    - a hub id with the hub offline: its snapshot in the Hugging Face cache, at the commit the
      cache's ref names;
    - a hub id: the hub, at the commit its revision (branch, tag or commit; default main)
      resolves to now (the lookup retried when the network fails)."""
    from .inputs import folder_commit

    path, revision = spec["path"], spec.get("revision")
    if os.path.isdir(path):
        return path, folder_commit(path)
    if is_offline():
        folder, sha = cached_snapshot(path, revision, "dataset")
        log.info(
            "dataset %s: the hub is offline: reading commit %s from the Hugging Face cache (%s)", path, sha, folder
        )
        return folder, sha
    from huggingface_hub import HfApi

    sha = with_retries(f"dataset '{path}'", lambda: HfApi().dataset_info(path, revision=revision).sha)
    log.info("dataset %s: revision %s is commit %s on the hub", path, revision or "main", sha)
    return path, sha


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
