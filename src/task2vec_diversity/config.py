"""Configuration: validation, defaults and the identity of results.

Imported by rules/common.smk at parse time, so it must stay cheap: no torch, no
data access, no network.
"""

from __future__ import annotations

import copy

from .errors import ConfigError

VARIANTS = ("reference", "exact")
SOURCES = ("hub", "files", "lower_bound", "upper_bound", "ginc")
FILE_FORMATS = {"jsonl": "json", "json": "json", "parquet": "parquet", "txt": "text"}

DEFAULTS = {
    "probe": {
        "id": None,
        "revision": None,
        "init": "pretrained",
        "init_seed": 0,
        "build": None,
    },
    "task2vec": {
        "variant": "reference",
        "epochs": 10,
        "lr": 5.0e-5,
        "eps": 1.0e-8,
        "weight_decay": 1.0e-4,
        "minibatch_size": 8,
        "finetune": True,
        "seed": 42,
        "device": "auto",
    },
    "sampling": {
        "n_batches": 200,
        "batch_size": 512,
        "max_length": 128,
        "seed": 0,
        "reuse_documents": False,
    },
    "report": {
        "bootstrap_replicates": 2000,
        "bootstrap_seed": 0,
    },
    "datasets": {},
}

PROBE_BUILD_DEFAULTS = {
    "n_symbols": 50,
    "n_layer": 2,
    "n_embd": 64,
    "n_head": 2,
    "n_positions": 128,
    "seed": 0,
    "pretrain_steps": 0,
    "pretrain_concepts": 64,
    "pretrain_lr": 1.0e-3,
}

GINC_DEFAULTS = {
    "n_concepts": 1,
    "n_symbols": 50,
    "n_values": 10,
    "n_slots": 10,
    "transition_temp": 0.1,
    "start_temp": 10.0,
    "value_identity_coeff": 0.9,
    "n_documents": 1000,
    "document_length": 10240,
    "seed": 1111,
}

DATASET_KEYS = {
    "hub": {"path", "name", "split", "revision", "text_field", "streaming", "shuffle_buffer"},
    "files": {"files", "format", "text_field"},
    "lower_bound": set(),
    "upper_bound": set(),
    "ginc": set(GINC_DEFAULTS),
}
DATASET_COMMON_KEYS = {"source", "sampling", "order", "description"}


def _check_keys(section: dict, allowed, where: str) -> None:
    if not isinstance(section, dict):
        raise ConfigError(f"config: '{where}' must be a mapping, got {type(section).__name__}")
    unknown = sorted(set(section) - set(allowed))
    if unknown:
        raise ConfigError(
            f"config: unknown key '{unknown[0]}' in '{where}'; allowed keys: {', '.join(sorted(allowed))}"
        )


def _merge(defaults: dict, given: dict, where: str) -> dict:
    _check_keys(given or {}, defaults, where)
    merged = copy.deepcopy(defaults)
    merged.update(given or {})
    return merged


def _positive_int(value, where: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"config: '{where}' must be a positive integer, got {value!r}")


def validate(config: dict) -> dict:
    """Return the config with defaults filled in, or raise ConfigError with one line."""
    _check_keys(config, DEFAULTS, "config")
    out = {key: _merge(DEFAULTS[key], config.get(key), key) for key in ("probe", "task2vec", "sampling", "report")}

    probe = out["probe"]
    if probe["build"] is not None:
        probe["build"] = _merge(PROBE_BUILD_DEFAULTS, probe["build"], "probe.build")
        if probe["id"] is not None:
            raise ConfigError("config: give either 'probe.id' (hub id or path) or 'probe.build', not both")
    elif not probe["id"]:
        raise ConfigError("config: 'probe.id' is missing; set a hub id such as gpt2, a local path, or 'probe.build'")
    if probe["init"] not in ("pretrained", "random"):
        raise ConfigError(f"config: 'probe.init' must be pretrained or random, got {probe['init']!r}")

    t2v = out["task2vec"]
    if t2v["variant"] not in VARIANTS:
        raise ConfigError(f"config: 'task2vec.variant' must be one of {', '.join(VARIANTS)}, got {t2v['variant']!r}")
    if not isinstance(t2v["epochs"], int) or t2v["epochs"] < 0:
        raise ConfigError(f"config: 'task2vec.epochs' must be a non-negative integer, got {t2v['epochs']!r}")
    _positive_int(t2v["minibatch_size"], "task2vec.minibatch_size")
    if t2v["device"] not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"config: 'task2vec.device' must be auto, cpu or cuda, got {t2v['device']!r}")

    datasets = config.get("datasets") or {}
    if not datasets:
        raise ConfigError("config: 'datasets' is empty; declare at least one dataset")
    out["datasets"] = {name: _dataset(name, spec, out["sampling"]) for name, spec in datasets.items()}
    return out


def _dataset(name: str, spec: dict, sampling: dict) -> dict:
    where = f"datasets.{name}"
    if not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"config: dataset name '{name}' may hold only letters, digits, '_' and '-'")
    if not isinstance(spec, dict) or spec.get("source") not in SOURCES:
        got = spec.get("source") if isinstance(spec, dict) else spec
        raise ConfigError(f"config: '{where}.source' must be one of {', '.join(SOURCES)}, got {got!r}")
    source = spec["source"]
    _check_keys(spec, DATASET_KEYS[source] | DATASET_COMMON_KEYS, where)
    out = dict(spec)
    out["sampling"] = _merge(sampling, spec.get("sampling"), f"{where}.sampling")
    for key in ("n_batches", "batch_size", "max_length"):
        _positive_int(out["sampling"][key], f"{where}.sampling.{key}")
    out.setdefault("order", "consecutive" if source == "ginc" else "random")
    if out["order"] not in ("random", "consecutive"):
        raise ConfigError(f"config: '{where}.order' must be random or consecutive, got {out['order']!r}")
    if source == "hub":
        for key in ("path", "text_field"):
            if not spec.get(key):
                raise ConfigError(f"config: '{where}.{key}' is missing")
        out.setdefault("split", "train")
        out.setdefault("streaming", True)
        out.setdefault("shuffle_buffer", 10_000)
    elif source == "files":
        if not spec.get("files"):
            raise ConfigError(f"config: '{where}.files' is missing; give a list of jsonl/json/parquet/txt files")
        if isinstance(out["files"], str):
            out["files"] = [out["files"]]
        fmt = out.get("format") or out["files"][0].rsplit(".", 1)[-1]
        if fmt not in FILE_FORMATS:
            raise ConfigError(
                f"config: '{where}.format' cannot be told from '{out['files'][0]}'; set format to one of "
                f"{', '.join(FILE_FORMATS)}"
            )
        out["format"] = fmt
        out.setdefault("text_field", "text")
    elif source == "ginc":
        out = {**GINC_DEFAULTS, **out}
        needed = out["sampling"]["n_batches"] * out["sampling"]["batch_size"]
        available = out["n_documents"] * (out["document_length"] // out["sampling"]["max_length"])
        if not out["sampling"]["reuse_documents"] and available < needed:
            raise ConfigError(
                f"config: dataset '{name}' yields {available} sequences but {out['sampling']['n_batches']} batches x "
                f"{out['sampling']['batch_size']} need {needed}; raise n_documents or lower n_batches/batch_size"
            )
    return out


def probe_spec(config: dict) -> dict:
    """What identifies the probe network before it is loaded."""
    probe = config["probe"]
    return {
        "id": probe["id"] or "results/probe",
        "revision": probe["revision"],
        "init": probe["init"],
        "init_seed": probe["init_seed"],
        "build": probe["build"],
    }


def embedding_spec(config: dict) -> dict:
    """Everything that changes an embedding apart from the batch itself."""
    t2v = {k: v for k, v in config["task2vec"].items() if k != "device"}
    return {"probe": probe_spec(config), "task2vec": t2v}
