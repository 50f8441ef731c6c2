"""What a result is made from, recorded in its provenance: the local data files a dataset
reads (their content hashes, so that an edited file reruns its dataset and only it) and the
library's own version (so that a result says which code computed it). See docs/integrity.md.
"""

from __future__ import annotations

import codecs
import functools
import glob
import hashlib
import json
import os
import re
import subprocess
from pathlib import Path

from .errors import ConfigError, DataError

# compressed files are read by ``datasets`` through fsspec: their bytes are not text
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")
CHUNK = 1 << 20


def local_folder(spec: dict) -> str | None:
    """The folder of a hub dataset given as a local directory (a hub-shaped folder, e.g. a
    ``git clone`` of the repository), else None."""
    if spec.get("source") in ("hub", "hub_images") and os.path.isdir(spec.get("path") or ""):
        return spec["path"]
    return None


def folder_commit(path: str) -> str | None:
    """The commit of a clean git checkout at ``path`` (its top level); None when it is not
    one, or has changes not committed."""
    try:
        git = ["git", "-C", str(path)]
        top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode != 0 or os.path.realpath(top.stdout.strip()) != os.path.realpath(path):
            return None
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, timeout=60)
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    clean = status.returncode == 0 and not status.stdout.strip() and head.returncode == 0
    return head.stdout.strip() if clean else None


def local_files(spec: dict) -> list[str]:
    """The local data files a dataset reads: a files source's ``files`` (globs expanded, URLs
    left out), every file of a local hub-shaped folder (not its .git), and for a mix its
    components' files."""
    if spec.get("source") == "mix":
        return sorted({f for part in spec["components"].values() for f in local_files(part["spec"])})
    folder = local_folder(spec)
    if folder is not None:
        root = Path(folder)
        return [str(root / p) for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts]
    if spec.get("source") != "files":
        return []
    found = []
    for pattern in spec["files"]:
        if "://" in pattern:
            continue
        found += sorted(glob.glob(pattern, recursive=True)) if glob.has_magic(pattern) else [pattern]
    return list(dict.fromkeys(found))


def check_files(name: str, spec: dict) -> None:
    """A files dataset's local files exist, are files, can be read and are not empty: checked
    when the workflow starts, before any job (also on a finished run: a missing file used to
    leave its dataset silently out of the report)."""
    if spec.get("source") != "files":
        return
    fix = f"fix datasets.{name}.files or remove the dataset"
    for pattern in spec["files"]:
        if "://" not in pattern and glob.has_magic(pattern) and not glob.glob(pattern, recursive=True):
            raise DataError(f"dataset '{name}': no file matches {pattern} (in {os.getcwd()}); {fix}")
    for path in local_files(spec):
        if os.path.isdir(path):
            raise DataError(
                f"dataset '{name}': {path} is a folder, not a file; list its files (e.g. {path}/*.jsonl) in "
                f"datasets.{name}.files"
            )
        try:
            with open(path, "rb") as f:
                empty = not f.read(1)
        except FileNotFoundError:
            raise DataError(f"dataset '{name}': {path} does not exist (in {os.getcwd()}); {fix}") from None
        except OSError as error:
            raise DataError(f"dataset '{name}': {path} cannot be read ({error.strerror}); {fix}") from None
        if empty:
            raise DataError(f"dataset '{name}': {path} is empty; {fix}")


# a hub repository id as huggingface_hub accepts it: name or owner/name
HUB_ID = re.compile(r"^[\w.-]{1,96}(/[\w.-]{1,96})?$")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model", "spiece.model", "vocab.txt")


def check_probe_folder(where: str, path: str, kind: str = "text", weights: bool = True) -> None:
    """A probe given as a local folder holds what its jobs load (config.json with a model_type,
    weights unless ``weights`` is False, a tokenizer (kind text) or an image processor (kind
    image); kind model: neither, for the model a built probe starts from) and no custom code
    (``auto_map``: transformers would ask on stdin whether to run it). A name that is neither
    a folder nor a hub id (a mistyped path) is refused too. Checked before any job."""
    if not path:
        return
    if os.path.isdir(path):
        pass
    elif HUB_ID.match(path) and "--" not in path and ".." not in path:
        return  # a hub id: the fetch stage gets it
    else:
        raise ConfigError(
            f"config: '{where}' is {path!r}: there is no such folder (in {os.getcwd()}) and it is not a hub id "
            "(name or owner/name); fix the path"
        )
    folder = Path(path)
    found = {p.name for p in folder.iterdir()}
    if "config.json" not in found:
        raise ConfigError(
            f"config: probe folder {path} ('{where}') has no config.json: it is not a model saved with "
            "save_pretrained; point it at the folder that holds config.json"
        )
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"config: {path}/config.json cannot be read as JSON ({error}); fix or replace it") from None
    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
        own = config if name == "config.json" else _json_or_empty(folder / name)
        if isinstance(own, dict) and own.get("auto_map"):
            raise ConfigError(
                f"config: probe folder {path} ('{where}'): {name} maps to custom code (auto_map: "
                f"{json.dumps(own['auto_map'])[:80]}); the workflow never runs code from a model folder: use a model "
                "of an architecture transformers has"
            )
    if not isinstance(config, dict) or not config.get("model_type"):
        raise ConfigError(
            f"config: {path}/config.json has no model_type, so transformers cannot tell the architecture; save the "
            "model again with save_pretrained"
        )
    if weights and not found & set(WEIGHTS):
        raise ConfigError(
            f"config: probe folder {path} ('{where}') has no weights ({' or '.join(WEIGHTS[::2])}); save the model "
            "there with save_pretrained, or set init: random for a random probe of its architecture"
        )
    if kind == "text" and not found & set(TOKENIZER):
        raise ConfigError(
            f"config: probe folder {path} ('{where}') has no tokenizer (tokenizer.json or tokenizer_config.json); "
            "save it there with tokenizer.save_pretrained"
        )
    if kind == "image" and "preprocessor_config.json" not in found:
        raise ConfigError(
            f"config: probe folder {path} ('{where}') has no image processor (preprocessor_config.json); save it "
            "there with image_processor.save_pretrained"
        )


def _json_or_empty(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def check(config: dict) -> None:
    """Every local input of a validated config, before any job: the files datasets' files
    and the probe folders (a dataset's own probe, and the model a built probe starts from)."""
    from .config import modality

    for name, spec in config["datasets"].items():
        check_files(name, spec)
        probe = spec["probe"]
        if probe["build"] is None:
            weights = probe["init"] != "random"
            check_probe_folder(f"datasets.{name}.probe.id", probe["id"], modality(spec), weights)
        elif probe["build"]["from"]:
            check_probe_folder(f"datasets.{name}.probe.build.from", probe["build"]["from"], "model")


def _is_text(path: str, fmt: str | None) -> bool:
    return fmt in ("jsonl", "json", "txt") and not path.endswith(COMPRESSED)


def file_sha256(path: str, fmt: str | None = None, name: str = "") -> str:
    """SHA-256 of a file's content; a text file (jsonl, json, txt) is also checked to be
    UTF-8, whatever rows the batches would sample, and an invalid byte stops with one line."""
    sha, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")() if _is_text(path, fmt) else None
    line, offset = 1, 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            if decoder is not None:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as error:
                    data = error.object  # the bytes the decoder held from the last chunk, then this one
                    where = offset - (len(data) - len(chunk)) + error.start
                    line += data[len(data) - len(chunk) : error.start].count(b"\n")
                    raise DataError(
                        f"dataset '{name}': {path} is not UTF-8 (byte 0x{data[error.start]:02x} at offset {where}, "
                        f"line {line}); re-encode it as UTF-8 (e.g. iconv -f latin1 -t utf-8) or fix that line"
                    ) from None
                line += chunk.count(b"\n")
            offset += len(chunk)
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise DataError(
                f"dataset '{name}': {path} ends inside a UTF-8 character (truncated?); re-encode it as UTF-8"
            ) from None
    return sha.hexdigest()


def identity_files(spec: dict) -> tuple[list[str], dict[str, str]]:
    """What identifies a dataset's local inputs: the files whose content hashes do (all of
    local_files but those of a local folder that is a clean git checkout), and
    {folder: 'git <commit>'} for each folder that is one (each checkout asked once)."""
    if spec.get("source") == "mix":
        parts = [identity_files(part["spec"]) for part in spec["components"].values()]
        return sorted({f for files, _ in parts for f in files}), {k: v for _, c in parts for k, v in c.items()}
    folder = local_folder(spec)
    commit = folder and folder_commit(folder)
    return ([], {folder: f"git {commit}"}) if commit else (local_files(spec), {})


def files_sha256(name: str, spec: dict) -> dict[str, str]:
    """{file: SHA-256} of a dataset's local files, text files checked to be UTF-8 ('git
    <commit>' for a folder that is a clean git checkout)."""
    if spec.get("source") == "mix":
        return {k: v for part in spec["components"].values() for k, v in files_sha256(name, part["spec"]).items()}
    files, commits = identity_files(spec)
    return {**{path: file_sha256(path, spec.get("format"), name) for path in files}, **commits}


def cached_sha256(paths, cache: str | Path | None = None) -> dict[str, str]:
    """{file: SHA-256}, remembered in ``cache`` (a JSON file) by path, size and modification
    time: each file is read once, and again only when it changes. A missing file is left out
    (Snakemake reports it as a missing input of its dataset)."""
    known = {}
    if cache is not None and os.path.exists(cache):
        try:
            known = json.loads(Path(cache).read_text())
        except (OSError, ValueError):
            known = {}
    out, changed = {}, False
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue
        stamp = f"{os.path.realpath(path)} {stat.st_size} {stat.st_mtime_ns}"
        if known.get(stamp) is None:
            known[stamp] = file_sha256(path)
            changed = True
        out[path] = known[stamp]
    if changed and cache is not None:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        Path(tmp).write_text(json.dumps(known, indent=0, sort_keys=True))
        os.replace(tmp, cache)
    return out


@functools.cache
def library_version() -> dict:
    """The library that runs: its folder, and its version: ``git <commit>`` when the library's
    files are committed, else ``sha256 <hash of its source files>`` (always given as
    source_sha256 too, so that two checkouts with the same code compare equal)."""
    here = Path(__file__).resolve().parent
    sha = hashlib.sha256()
    for path in sorted(p for p in here.rglob("*") if p.suffix in (".py", ".yaml", ".json") and p.is_file()):
        sha.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    source = sha.hexdigest()[:16]
    commit = None
    try:
        git = ["git", "-C", str(here)]
        status = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True, timeout=10)
        if status.returncode == 0 and not status.stdout.strip():
            head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
            commit = head.stdout.strip() if head.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "path": str(here),
        "version": f"git {commit}" if commit else f"sha256 {source}",
        "source_sha256": source,
    }
