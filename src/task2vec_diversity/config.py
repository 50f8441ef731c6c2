"""Configuration: validation, defaults and the identity of results.

Imported by rules/common.smk at parse time, so it must stay cheap: no torch, no
data access, no network.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os

from .errors import ConfigError

VARIANTS = ("reference", "exact")
IMAGE_SOURCES = ("hub_images", "image_folder", "digits")  # few-shot tasks of labelled images (docs/method.md#vision)
SOURCES = ("hub", "files", "lower_bound", "upper_bound", "ginc", "mix", *IMAGE_SOURCES)
EMBEDDINGS_PER_JOB = (1, 10, 100, 1000)
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
        "fisher_samples": 1,  # Monte-Carlo draws per Fisher mini-batch (the paper: 1)
        "precision": "fp32",  # arithmetic of the forwards; see REFUSED_PRECISIONS
        "device": "auto",
        "embeddings_per_job": 10,
        "lockstep": 4,  # batches of a job fine-tuned together (execution only: same embeddings)
    },
    "sampling": {
        "n_batches": 200,
        "batch_size": 512,
        "max_length": 128,
        "seed": 0,
        "reuse_documents": False,
    },
    # re-embeddings of a dataset's first `batches` batches with `seeds` other seeds (noise.py);
    # 5 x 2 = 10 embeddings, 5% of a 200-batch dataset; seeds: 0 switches the noise floor off
    "noise_floor": {"batches": 5, "seeds": 2},
    "report": {
        "bootstrap_replicates": 2000,
        "bootstrap_seed": 0,
        "histogram_bins": 50,
    },
    "datasets": {},
    "pools": {},
    "alignment": {},
    "downstream": {},  # optional sections, validated at the end of this file
    "baselines": {},
    "selection": {},
    "sweeps": {},
    # where the fetch stage (rules fetch_probe, fetch_dataset: the only jobs that use the
    # network) runs: local (the submitting node) or cluster (a job, e.g. on a partition with
    # internet set for them in the profile); execution only, not part of any result's identity
    "fetch": {"where": "local"},
}
# sampling keys of image datasets: a task is n_way classes with k_shot images each
TASK_SAMPLING_DEFAULTS = {"n_way": 5, "k_shot": 5}
# task2vec keys that do not change an embedding: where it runs and how many per job
EXECUTION_KEYS = ("device", "embeddings_per_job", "lockstep")
# method keys left out of the identity at these values, so that results made before the key
# existed keep their names
NEUTRAL_METHOD_VALUES = {"fisher_samples": 1, "precision": "fp32"}
# precisions the engine has (task2vec.PRECISIONS) that a config may not ask for: each must keep the
# embedding within rtol 1e-3 of fp32 and distances within 1e-4 (benchmarks/gpu_check.py measures it)
REFUSED_PRECISIONS = {
    "bf16": "bf16 autocast misses the tolerance (measured on a CPU: embeddings 6.7e-2 relative, distances 1.2e-4)",
    "tf32": "tf32 is not measured on a GPU yet (on a CPU it is fp32); run benchmarks/gpu_check.py",
}

PROBE_BUILD_DEFAULTS = {
    "from": None,  # a causal LM (hub id or path) whose token embeddings are resized to the tokenizer
    "from_revision": None,
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
    "hub": {"path", "name", "split", "revision", "text_field", "streaming", "shuffle_buffer", "filter"},
    "files": {"files", "format", "text_field", "filter"},
    "lower_bound": set(),
    "upper_bound": set(),
    "ginc": set(GINC_DEFAULTS) | {"concepts", "document_seed"},  # optional, no default: keys stay as they were
    "mix": {"components"},
    "hub_images": {"path", "name", "split", "revision", "image_field", "label_field"},
    "image_folder": {"root"},
    "digits": set(),
}
DATASET_COMMON_KEYS = {"source", "sampling", "task2vec", "probe", "order", "description", "paper_diversity"}
# dataset keys that change no result
COSMETIC_KEYS = ("description", "paper_diversity")
POOL_KEYS = {"datasets", "description", "paper_diversity"}
ALIGNMENT_KEYS = {"train", "eval"}
SWEEP_KEYS = {"dataset", "vary", "values", "description"}
# GINC settings a sweep may vary (the paper's two sweeps: latent concepts and vocabulary)
SWEEP_PARAMETERS = ("n_concepts", "n_symbols")


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
    sections = ("probe", "task2vec", "report", "noise_floor", "fetch")
    out = {key: _merge(DEFAULTS[key], config.get(key), key) for key in sections}
    if out["fetch"]["where"] not in ("local", "cluster"):
        raise ConfigError(f"config: 'fetch.where' must be local or cluster, got {out['fetch']['where']!r}")
    out["sampling"] = _merge({**DEFAULTS["sampling"], **TASK_SAMPLING_DEFAULTS}, config.get("sampling"), "sampling")

    _check_probe(out["probe"], "probe")

    t2v = out["task2vec"]
    _check_task2vec(t2v, "task2vec")
    if t2v["device"] not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"config: 'task2vec.device' must be auto, cpu or cuda, got {t2v['device']!r}")
    _positive_int(t2v["lockstep"], "task2vec.lockstep")
    if t2v["embeddings_per_job"] not in EMBEDDINGS_PER_JOB:
        raise ConfigError(
            f"config: 'task2vec.embeddings_per_job' must be one of {', '.join(map(str, EMBEDDINGS_PER_JOB))}, "
            f"got {t2v['embeddings_per_job']!r}"
        )

    for key in ("batches", "seeds"):
        value = out["noise_floor"][key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"config: 'noise_floor.{key}' must be a non-negative integer, got {value!r}")

    out["sweeps"], swept = _sweeps(config.get("sweeps") or {}, config.get("datasets") or {}, out["probe"])
    datasets = {**(config.get("datasets") or {}), **swept}
    if not datasets:
        raise ConfigError("config: 'datasets' is empty; declare at least one dataset")
    out["datasets"] = {
        name: _dataset(name, spec, out["sampling"], t2v, out["probe"]) for name, spec in datasets.items()
    }
    for name, spec in out["datasets"].items():
        if spec["source"] == "mix":
            spec["components"] = _components(name, spec, out["datasets"])
    _check_modalities(out)
    out["pools"] = {name: _pool(name, pool, out["datasets"]) for name, pool in (config.get("pools") or {}).items()}
    out["alignment"] = _alignment(config.get("alignment") or {}, out["datasets"])
    out.update(_decisions(config, out))
    return out


def _check_probe(probe: dict, where: str) -> None:
    if probe["build"] is not None:
        if probe["id"] is not None:
            raise ConfigError(f"config: give either '{where}.id' (hub id or path) or '{where}.build', not both")
        probe["build"] = _merge(PROBE_BUILD_DEFAULTS, probe["build"], f"{where}.build")
    elif not probe["id"]:
        raise ConfigError(
            f"config: '{where}.id' is missing; set a hub id such as gpt2, a local path, or '{where}.build'"
        )
    if probe["init"] not in ("pretrained", "random"):
        raise ConfigError(f"config: '{where}.init' must be pretrained or random, got {probe['init']!r}")


def _dataset_probe(name: str, given, probe: dict) -> dict:
    """A dataset's probe: the config's, with the dataset's own keys over it. A dataset that
    gives 'build' gets a built probe (its build keys over the config's build, if any); one
    that gives 'id' gets that hub id or path."""
    where = f"datasets.{name}.probe"
    if given is None:
        return copy.deepcopy(probe)
    _check_keys(given, DEFAULTS["probe"], where)
    out = copy.deepcopy(probe)
    if "build" in given:
        out["id"], out["revision"] = None, None
        out["build"] = {**(probe["build"] or {}), **(given["build"] or {})}
    elif "id" in given:
        out["build"] = None
    out.update({k: v for k, v in given.items() if k != "build"})
    _check_probe(out, where)
    return out


def _sweeps(section: dict, datasets: dict, probe: dict) -> tuple[dict, dict]:
    """GINC sweeps: each expands into one dataset per value of the varied setting, named
    ``<sweep>_<value>``. When the vocabulary varies and the probe is built, the probe's
    word-level tokenizer follows it (the paper resizes the probe to each GINC vocabulary)."""
    if not isinstance(section, dict):
        raise ConfigError("config: 'sweeps' must be a mapping of sweep names to sweeps")
    sweeps, generated = {}, {}
    for sweep, spec in section.items():
        where = f"sweeps.{sweep}"
        _check_keys(spec, SWEEP_KEYS, where)
        base = spec.get("dataset")
        if not isinstance(base, dict) or base.get("source") != "ginc":
            raise ConfigError(f"config: '{where}.dataset' must be a GINC dataset entry (source: ginc)")
        vary = spec.get("vary")
        if vary not in SWEEP_PARAMETERS:
            raise ConfigError(f"config: '{where}.vary' must be one of {', '.join(SWEEP_PARAMETERS)}, got {vary!r}")
        values = spec.get("values")
        if not isinstance(values, list) or len(values) < 3 or len(set(values)) != len(values):
            raise ConfigError(f"config: '{where}.values' must list at least three different values (a quadratic fit)")
        names = {}
        for value in values:
            _positive_int(value, f"{where}.values")
            name = f"{sweep}_{value}"
            if name in datasets or name in generated:
                raise ConfigError(f"config: sweep '{sweep}' generates dataset '{name}', which already exists")
            entry = {**copy.deepcopy(base), vary: value}
            own = entry.get("probe") or {}
            built = "build" in own or ("id" not in own and probe["build"] is not None)
            if vary == "n_symbols" and built:
                entry["probe"] = {**own, "build": {**(own.get("build") or {}), "n_symbols": value}}
            generated[name] = entry
            names[value] = name
        sweeps[sweep] = {"vary": vary, "datasets": names, "description": spec.get("description", "")}
    return sweeps, generated


def modality(spec: dict) -> str:
    """What a dataset holds, and so which kind of probe embeds it: image or text."""
    return "image" if spec["source"] in IMAGE_SOURCES else "text"


def _check_modalities(config: dict) -> None:
    """One probe embeds one kind of data, image classification tasks or token batches, and
    'probe.build' builds a text probe. Image and text datasets may share a config, each
    with its own probe (a pool or alignment pair of different probes is refused anyway)."""
    kind_of_probe = {}
    for name, spec in config["datasets"].items():
        kind = modality(spec)
        if kind == "image" and spec["probe"]["build"] is not None:
            raise ConfigError(
                f"config: image dataset '{name}' has a built probe, which is a text probe; give it 'probe.id', an "
                "image classification model such as microsoft/resnet-18"
            )
        probe = json.dumps(spec["probe"], sort_keys=True)
        first, first_kind = kind_of_probe.setdefault(probe, (name, kind))
        if first_kind != kind:
            raise ConfigError(
                f"config: {first_kind} dataset '{first}' and {kind} dataset '{name}' have the same probe; one probe "
                "embeds one kind of data: give one of them its own 'probe'"
            )


def _check_task2vec(t2v: dict, where: str) -> None:
    if t2v["variant"] not in VARIANTS:
        raise ConfigError(f"config: '{where}.variant' must be one of {', '.join(VARIANTS)}, got {t2v['variant']!r}")
    if not isinstance(t2v["epochs"], int) or t2v["epochs"] < 0:
        raise ConfigError(f"config: '{where}.epochs' must be a non-negative integer, got {t2v['epochs']!r}")
    _positive_int(t2v["minibatch_size"], f"{where}.minibatch_size")
    _positive_int(t2v["fisher_samples"], f"{where}.fisher_samples")
    if t2v["precision"] in REFUSED_PRECISIONS:
        raise ConfigError(f"config: '{where}.precision' {REFUSED_PRECISIONS[t2v['precision']]}; use fp32")
    if t2v["precision"] != "fp32":
        raise ConfigError(f"config: '{where}.precision' must be fp32 (tf32, bf16: refused), got {t2v['precision']!r}")


def _components(name: str, spec: dict, datasets: dict) -> dict:
    """A mix's components: {dataset: {weight (normalised), spec}}, from hub or files datasets."""
    weights = spec.get("components")
    if not isinstance(weights, dict) or not weights:
        raise ConfigError(f"config: 'datasets.{name}.components' must map dataset names to mixture weights")
    for part, weight in weights.items():
        if part not in datasets or datasets[part]["source"] not in ("hub", "files"):
            raise ConfigError(
                f"config: mix '{name}' names component '{part}', which is not a hub or files dataset of this config"
            )
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight <= 0:
            raise ConfigError(f"config: mix '{name}': weight of '{part}' must be a positive number, got {weight!r}")
    total = float(sum(weights.values()))
    return {part: {"weight": w / total, "spec": data_spec(datasets[part])} for part, w in weights.items()}


def _known(names, datasets: dict, where: str) -> list:
    if not isinstance(names, list) or not names:
        raise ConfigError(f"config: '{where}' must be a non-empty list of dataset names")
    for name in names:
        if name not in datasets:
            raise ConfigError(f"config: '{where}' names '{name}', which is not a dataset of this config")
    return names


def _pool(name: str, pool, datasets: dict) -> dict:
    """A concatenated pool: each batch from one dataset, coefficient over all pooled pairs."""
    where = f"pools.{name}"
    _check_keys(pool, POOL_KEYS, where)
    if name in datasets:
        raise ConfigError(f"config: pool '{name}' has the name of a dataset; give it another name")
    members = _known(pool.get("datasets"), datasets, f"{where}.datasets")
    if len(members) < 2:
        raise ConfigError(f"config: '{where}.datasets' needs at least two datasets")
    _check_comparable(members, datasets, where)
    return {**pool, "datasets": members}


def _alignment(section: dict, datasets: dict) -> dict:
    """Cross diversity and alignment of every (train, eval) pair."""
    if not section:
        return {}
    _check_keys(section, ALIGNMENT_KEYS, "alignment")
    train = _known(section.get("train"), datasets, "alignment.train")
    evals = _known(section.get("eval"), datasets, "alignment.eval")
    for a in train:
        for b in evals:
            _check_comparable([a, b], datasets, f"alignment pair ({a}, {b})")
    return {"train": train, "eval": evals}


def _check_comparable(names: list, datasets: dict, where: str) -> None:
    """Embeddings of different probes, methods or batch shapes never meet in one coefficient."""
    first = names[0]
    for other in names[1:]:
        if datasets[first]["probe"] != datasets[other]["probe"]:
            raise ConfigError(
                f"config: {where} mixes embeddings of different probes ({first} and {other}); "
                "refusing: give both datasets the same probe"
            )
        for key in ("task2vec", "sampling"):
            a, b = dict(datasets[first][key]), dict(datasets[other][key])
            for skip in ("n_batches", "seed", "reuse_documents"):
                a.pop(skip, None), b.pop(skip, None)
            if a != b:
                diff = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
                raise ConfigError(
                    f"config: {where} mixes embeddings made with different {key}.{diff} "
                    f"({first}: {a.get(diff)!r}, {other}: {b.get(diff)!r}); refusing: use the same settings for both"
                )


def _dataset(name: str, spec: dict, sampling: dict, task2vec: dict, probe: dict) -> dict:
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
    if source in IMAGE_SOURCES:
        out["sampling"] = _task_sampling(out["sampling"], where)
    else:
        out["sampling"] = {k: v for k, v in out["sampling"].items() if k not in TASK_SAMPLING_DEFAULTS}
        for key in ("n_batches", "batch_size", "max_length"):
            _positive_int(out["sampling"][key], f"{where}.sampling.{key}")
    method = {k: v for k, v in task2vec.items() if k not in EXECUTION_KEYS}
    out["task2vec"] = _merge(method, spec.get("task2vec"), f"{where}.task2vec")
    _check_task2vec(out["task2vec"], f"{where}.task2vec")
    for key, neutral in NEUTRAL_METHOD_VALUES.items():
        if out["task2vec"][key] == neutral:
            del out["task2vec"][key]
    out["probe"] = _dataset_probe(name, spec.get("probe"), probe)
    if source in IMAGE_SOURCES and out["task2vec"]["variant"] != "reference":
        raise ConfigError(
            f"config: '{where}.task2vec.variant' is {out['task2vec']['variant']!r}, a text-only variant; image "
            "tasks are embedded as in the original Task2Vec: use variant reference"
        )
    per_job = task2vec["embeddings_per_job"]
    if out["sampling"]["n_batches"] % per_job:
        raise ConfigError(
            f"config: '{where}.sampling.n_batches' ({out['sampling']['n_batches']}) must be a multiple of "
            f"task2vec.embeddings_per_job ({per_job}); change one of them"
        )
    out.setdefault("order", "consecutive" if source == "ginc" else "random")
    if out["order"] not in ("random", "consecutive"):
        raise ConfigError(f"config: '{where}.order' must be random or consecutive, got {out['order']!r}")
    subset = spec.get("filter")
    if subset is not None and (not isinstance(subset, dict) or set(subset) != {"field", "value"}):
        raise ConfigError(
            f"config: '{where}.filter' must be {{field: <column, dotted if nested>, value: <value kept>}}"
        )
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
    elif source == "hub_images":
        if not spec.get("path"):
            raise ConfigError(f"config: '{where}.path' is missing; give a hub id or a local dataset directory")
        out.setdefault("split", "train")
        out.setdefault("image_field", "image")
        out.setdefault("label_field", "label")
    elif source == "image_folder":
        if not spec.get("root"):
            raise ConfigError(
                f"config: '{where}.root' is missing; give a folder with one subfolder of images per class"
            )
    elif source == "ginc":
        out = {**GINC_DEFAULTS, **out}
        _check_ginc_concepts(out, where)
        build = out["probe"]["build"]
        if build is not None and build["n_symbols"] != out["n_symbols"]:
            raise ConfigError(
                f"config: GINC dataset '{name}' has {out['n_symbols']} symbols but its built probe's tokenizer "
                f"has {build['n_symbols']}; set datasets.{name}.probe.build.n_symbols: {out['n_symbols']}"
            )
        needed = out["sampling"]["n_batches"] * out["sampling"]["batch_size"]
        available = out["n_documents"] * (out["document_length"] // out["sampling"]["max_length"])
        if not out["sampling"]["reuse_documents"] and available < needed:
            raise ConfigError(
                f"config: dataset '{name}' yields {available} sequences but {out['sampling']['n_batches']} batches x "
                f"{out['sampling']['batch_size']} need {needed}; raise n_documents or lower n_batches/batch_size"
            )
    return out


def _task_sampling(sampling: dict, where: str) -> dict:
    """Sampling of an image dataset: n_batches tasks of n_way classes x k_shot images; the
    batch of a task is its n_way x k_shot images and it has no token length."""
    for key in ("n_batches", "n_way", "k_shot"):
        _positive_int(sampling[key], f"{where}.sampling.{key}")
    if sampling["n_way"] < 2:
        raise ConfigError(f"config: '{where}.sampling.n_way' must be at least 2 (a 1-way task has no Fisher)")
    return {**sampling, "batch_size": sampling["n_way"] * sampling["k_shot"], "max_length": None}


def built_probe_path(build: dict) -> str:
    """Where a built probe is saved: named by a hash of how it is built."""
    digest = hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:12]
    return f"results/probe/{digest}"


# --- the fetch stage: what comes from the hub, and where its local copy lives ---


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
    return spec["source"] in ("hub", "hub_images") and is_hub_id(spec["path"])


def probe_spec(config: dict, dataset: str | None = None) -> dict:
    """What identifies the probe network (the config's, or a dataset's) before it is loaded."""
    probe = config["probe"] if dataset is None else config["datasets"][dataset]["probe"]
    return {
        "id": probe["id"] or built_probe_path(probe["build"]),
        "revision": probe["revision"],
        "init": probe["init"],
        "init_seed": probe["init_seed"],
        "build": probe["build"],
    }


def data_spec(spec: dict) -> dict:
    """What a dataset's documents depend on: its spec without cosmetic keys or method."""
    return {k: v for k, v in spec.items() if k not in COSMETIC_KEYS and k not in ("task2vec", "probe")}


def embedding_spec(config: dict, dataset: str) -> dict:
    """Everything that changes a dataset's embeddings apart from the batch itself."""
    return {"probe": probe_spec(config, dataset), "task2vec": config["datasets"][dataset]["task2vec"]}


def embedding_key(config: dict, dataset: str) -> str:
    """Short hash naming a dataset's embeddings: the probe, the method, and everything the
    tokens of its batches depend on except how many batches there are. Changing any of
    these embeds into a new folder; adding batches keeps the folder."""
    tokens = data_spec(config["datasets"][dataset])
    tokens["sampling"] = {k: v for k, v in tokens["sampling"].items() if k != "n_batches"}
    identity = {"embedding": embedding_spec(config, dataset), "tokens": tokens}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:12]


# --- from measurement to decisions: downstream correlation, baselines, data selection ---

DOWNSTREAM_DEFAULTS = {"results": None, "confidence": 0.95}
BASELINES_DEFAULTS = {"ngram": 2, "compression_level": 9}
SELECTION_DEFAULTS = {"target": None, "candidates": None, "min_diversity": 0.0, "n_batches": None, "starts": 20}


def _check_ginc_concepts(spec: dict, where: str) -> None:
    """GINC's optional ``concepts`` (indices of the latent concepts used) and ``document_seed``."""
    concepts = spec.get("concepts")
    if concepts is not None:
        n = spec["n_concepts"]
        ok = isinstance(concepts, list) and concepts and len(set(concepts)) == len(concepts)
        if not ok or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < n for k in concepts):
            raise ConfigError(
                f"config: '{where}.concepts' must be a list of distinct concept indices in [0, n_concepts={n}), "
                f"got {concepts!r}"
            )
    seed = spec.get("document_seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise ConfigError(f"config: '{where}.document_seed' must be a non-negative integer, got {seed!r}")


def _number(value, where: str, low: float = 0.0, high: float = float("inf")) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"config: '{where}' must be a number in [{low}, {high}], got {value!r}")
    return float(value)


def _decisions(config: dict, out: dict) -> dict:
    """The optional sections ``downstream``, ``baselines`` and ``selection``: a section that is
    absent (or null) is {} and switches its rule off; ``baselines: {}`` switches it on."""
    found = {"downstream": {}, "baselines": {}, "selection": {}}
    downstream = config.get("downstream")
    if downstream is not None:
        found["downstream"] = d = _merge(DOWNSTREAM_DEFAULTS, downstream, "downstream")
        if not isinstance(d["results"], str) or not d["results"].endswith(".csv"):
            raise ConfigError(
                "config: 'downstream.results' must be the path of a CSV with columns train, eval, metric, value "
                f"(and optionally model), got {d['results']!r}"
            )
        _number(d["confidence"], "downstream.confidence", 0.5, 0.999)
    baselines = config.get("baselines")
    if baselines is not None:
        found["baselines"] = b = _merge(BASELINES_DEFAULTS, baselines, "baselines")
        _positive_int(b["ngram"], "baselines.ngram")
        if b["compression_level"] not in range(1, 10):
            raise ConfigError(f"config: 'baselines.compression_level' must be 1 to 9, got {b['compression_level']!r}")
    selection = config.get("selection")
    if selection is not None:
        found["selection"] = _selection(selection, out["datasets"])
    return found


def _selection(section, datasets: dict) -> dict:
    """Rank candidate sources by alignment to a target and mix them under a diversity floor."""
    sel = _merge(SELECTION_DEFAULTS, section, "selection")
    if sel["target"] not in datasets:
        raise ConfigError(f"config: 'selection.target' must name a dataset of this config, got {sel['target']!r}")
    candidates = _known(sel["candidates"], datasets, "selection.candidates")
    if sel["target"] in candidates:
        raise ConfigError(f"config: 'selection.candidates' includes the target '{sel['target']}'; leave it out")
    if len(set(candidates)) != len(candidates):
        raise ConfigError("config: 'selection.candidates' names a dataset twice")
    _check_comparable([sel["target"], *candidates], datasets, "selection")
    _number(sel["min_diversity"], "selection.min_diversity", 0.0, 1.0)
    if sel["n_batches"] is None:
        sel["n_batches"] = datasets[sel["target"]]["sampling"]["n_batches"]
    _positive_int(sel["n_batches"], "selection.n_batches")
    available = sum(datasets[c]["sampling"]["n_batches"] for c in candidates)
    if sel["n_batches"] > available:
        raise ConfigError(
            f"config: 'selection.n_batches' ({sel['n_batches']}) exceeds the candidates' {available} batches; lower it"
        )
    _positive_int(sel["starts"], "selection.starts")
    return sel
