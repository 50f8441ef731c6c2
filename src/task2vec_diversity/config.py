"""Configuration: the schema's checks and defaults, then what a schema cannot say.

config.schema.yaml holds every key's type, range, default and description; schema_check.py
applies it. This module keeps the rest: sweep expansion, the inheritance of probe / sampling /
task2vec into datasets, comparability and capacity checks, and references between sections.
The identity of results is in identity.py. Imported by rules/common.smk at parse time, so it
must stay cheap: no torch, no data access, no network.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from . import paths, schema, schema_check
from .errors import ConfigError
from .identity import (  # noqa: F401  (the rules and scripts read them from here)
    COSMETIC_KEYS,
    EXECUTION_KEYS,
    built_probe_path,
    comparable,
    data_spec,
    embedding_key,
    embedding_spec,
    first_difference,
    probe_spec,
)
from .kinds import IMAGE_SOURCES, SOURCE_KINDS  # noqa: F401  (sources.py reads IMAGE_SOURCES from here)

VARIANTS = tuple(schema.properties("task2vec_method")["variant"]["enum"])
FILE_FORMATS = {"jsonl": "json", "json": "json", "parquet": "parquet", "txt": "text"}
# precisions the engine has that a config may not ask for: each must keep the embedding within
# rtol 1e-3 of fp32 and distances within 1e-4 (benchmarks/gpu_check.py, docs/performance.md)
REFUSED_PRECISIONS = {
    "bf16": "bf16 autocast misses its tolerance (measured on a CPU: embeddings 6.7e-2 relative, distances 1.2e-4)",
    "tf32": "tf32 is not measured on a GPU yet (on a CPU it is fp32); run benchmarks/gpu_check.py there",
}
# sampling keys of image datasets only: a task is n_way classes with k_shot images each
TASK_SAMPLING_KEYS = ("n_way", "k_shot")
# the library's defaults, read from the schema
PROBE_BUILD_DEFAULTS = schema.defaults("probe_build")


def validate(config: dict) -> dict:
    """Return the config with defaults filled in, or raise ConfigError with one line."""
    if not isinstance(config, dict):
        raise ConfigError(f"config: the config must be a mapping of sections, got {type(config).__name__}")
    given = copy.deepcopy(config)
    checked = schema_check.check(given)
    sweeps, swept = _sweeps(given.get("sweeps") or {}, given.get("datasets") or {}, checked["probe"])
    if swept:  # the generated datasets, checked as if they had been written out
        given["datasets"] = {**(given.get("datasets") or {}), **swept}
        checked = schema_check.check(given)
    if not checked["datasets"]:
        raise ConfigError("config: 'datasets' is empty; declare at least one dataset")

    out = {key: checked[key] for key in ("probe", "task2vec", "sampling", "report", "noise_floor", "fetch")}
    out["sweeps"] = sweeps
    _check_probe(out["probe"], "probe")
    out["datasets"] = {
        name: _dataset(name, spec, given["datasets"][name], out) for name, spec in checked["datasets"].items()
    }
    for name, spec in out["datasets"].items():
        if spec["source"] == "mix":
            spec["components"] = _components(name, spec, out["datasets"])
    _check_modalities(out)
    out["pools"] = {name: _pool(name, pool, out["datasets"]) for name, pool in checked["pools"].items()}
    out["alignment"] = _alignment(checked["alignment"] or {}, out["datasets"])
    out.update(_decisions(checked, out))
    return out


def _check_probe(probe: dict, where: str) -> None:
    if probe["build"] is not None:
        if probe["id"] is not None:
            raise ConfigError(f"config: give either '{where}.id' (hub id or path) or '{where}.build', not both")
    elif not probe["id"]:
        raise ConfigError(
            f"config: '{where}.id' is missing; set a hub id such as gpt2, a local path, or '{where}.build'"
        )


def _dataset_probe(name: str, given, probe: dict) -> dict:
    """A dataset's probe: the config's, with the dataset's own keys over it. A dataset that
    gives 'build' gets a built probe (its build keys over the config's build, if any); one
    that gives 'id' gets that hub id or path."""
    if given is None:
        return copy.deepcopy(probe)
    out = copy.deepcopy(probe)
    if "build" in given:
        out["id"], out["revision"] = None, None
        own = given["build"]
        out["build"] = None if own is None else {**(probe["build"] or PROBE_BUILD_DEFAULTS), **own}
    elif "id" in given:
        out["build"] = None
    out.update({k: v for k, v in given.items() if k != "build"})
    _check_probe(out, f"datasets.{name}.probe")
    return out


def _sweeps(section: dict, datasets: dict, probe: dict) -> tuple[dict, dict]:
    """GINC sweeps: each expands into one dataset per value of the varied setting, named
    ``<sweep>_<value>``. When the vocabulary varies and the probe is built, the probe's
    word-level tokenizer follows it (the paper resizes the probe to each GINC vocabulary)."""
    sweeps, generated = {}, {}
    for sweep, spec in section.items():
        base, vary = spec["dataset"], spec["vary"]
        names = {}
        for value in spec["values"]:
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
    return SOURCE_KINDS[spec["source"]].modality


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


def _components(name: str, spec: dict, datasets: dict) -> dict:
    """A mix's components: {dataset: {weight (normalised), spec}}, from hub or files datasets."""
    weights = spec["components"]
    for part in weights:
        if part not in datasets or not SOURCE_KINDS[datasets[part]["source"]].component:
            raise ConfigError(
                f"config: mix '{name}' names component '{part}', which is not a hub or files dataset of this config"
            )
    total = float(sum(weights.values()))
    return {part: {"weight": w / total, "spec": data_spec(datasets[part])} for part, w in weights.items()}


def _known(names: list, datasets: dict, where: str) -> list:
    for name in names:
        if name not in datasets:
            raise ConfigError(f"config: '{where}' names '{name}', which is not a dataset of this config")
    return names


def _pool(name: str, pool: dict, datasets: dict) -> dict:
    """A concatenated pool: each batch from one dataset, coefficient over all pooled pairs."""
    where = f"pools.{name}"
    if name in datasets:
        raise ConfigError(f"config: pool '{name}' has the name of a dataset; give it another name")
    members = _known(pool["datasets"], datasets, f"{where}.datasets")
    _check_comparable(members, datasets, where)
    return pool


def _alignment(section: dict, datasets: dict) -> dict:
    """Cross diversity and alignment of every (train, eval) pair."""
    if not section:
        return {}
    train = _known(section["train"], datasets, "alignment.train")
    evals = _known(section["eval"], datasets, "alignment.eval")
    for a in train:
        for b in evals:
            _check_comparable([a, b], datasets, f"alignment pair ({a}, {b})")
    return {"train": train, "eval": evals}


def _check_comparable(names: list, datasets: dict, where: str) -> None:
    """Embeddings that are not comparable (identity.comparable) never meet in one coefficient."""

    def shared(name):
        return comparable(embedding_spec({"datasets": datasets}, name), datasets[name]["sampling"])

    first = names[0]
    for other in names[1:]:
        found = first_difference(shared(first), shared(other))
        if found is None:
            continue
        key, a, b = found
        if key.startswith("probe."):
            raise ConfigError(
                f"config: {where} mixes embeddings of different probes ({first} and {other}: {key} {a!r} vs {b!r}); "
                "refusing: give both datasets the same probe"
            )
        raise ConfigError(
            f"config: {where} mixes embeddings made with different {key} ({first}: {a!r}, {other}: {b!r}); "
            "refusing: use the same settings for both"
        )


def _dataset(name: str, spec: dict, given: dict, config: dict) -> dict:
    """A dataset with the top-level sampling, task2vec (method keys) and probe under its own,
    and what its keys must agree on."""
    where = f"datasets.{name}"
    source = spec["source"]
    out = dict(spec)
    out["sampling"] = {**config["sampling"], **(given.get("sampling") or {})}
    if source in IMAGE_SOURCES:
        out["sampling"] = _task_sampling(out["sampling"])
    else:
        out["sampling"] = {k: v for k, v in out["sampling"].items() if k not in TASK_SAMPLING_KEYS}
    method = {k: v for k, v in config["task2vec"].items() if k not in EXECUTION_KEYS}
    out["task2vec"] = {**method, **(given.get("task2vec") or {})}
    if out["task2vec"].get("precision") in REFUSED_PRECISIONS:
        raise ConfigError(
            f"config: '{where}.task2vec.precision' {REFUSED_PRECISIONS[out['task2vec']['precision']]}; use fp32"
        )
    out["probe"] = _dataset_probe(name, given.get("probe"), config["probe"])
    if source in IMAGE_SOURCES and out["task2vec"]["variant"] != "reference":
        raise ConfigError(
            f"config: '{where}.task2vec.variant' is {out['task2vec']['variant']!r}, a text-only variant; image "
            "tasks are embedded as in the original Task2Vec: use variant reference"
        )
    _check_length(name, out)
    if source == "files":
        if isinstance(out["files"], str):
            out["files"] = [out["files"]]
        fmt = out.get("format") or out["files"][0].rsplit(".", 1)[-1]
        if fmt not in FILE_FORMATS:
            raise ConfigError(
                f"config: '{where}.format' cannot be told from '{out['files'][0]}'; set format to one of "
                f"{', '.join(FILE_FORMATS)}"
            )
        out["format"] = fmt
    elif source == "ginc":
        _check_ginc(name, out)
    return out


def _check_ginc(name: str, spec: dict) -> None:
    """GINC's concept indices, its vocabulary against the probe's, and whether it has enough sequences."""
    concepts, n = spec.get("concepts"), spec["n_concepts"]
    if concepts is not None and max(concepts) >= n:
        raise ConfigError(
            f"config: 'datasets.{name}.concepts' must be a list of distinct concept indices in [0, n_concepts={n}), "
            f"got {concepts!r}"
        )
    build = spec["probe"]["build"]
    if build is not None and build["n_symbols"] != spec["n_symbols"]:
        raise ConfigError(
            f"config: GINC dataset '{name}' has {spec['n_symbols']} symbols but its built probe's tokenizer "
            f"has {build['n_symbols']}; set datasets.{name}.probe.build.n_symbols: {spec['n_symbols']}"
        )
    sampling = spec["sampling"]
    needed = sampling["n_batches"] * sampling["batch_size"]
    available = spec["n_documents"] * (spec["document_length"] // sampling["max_length"])
    if not sampling["reuse_documents"] and available < needed:
        raise ConfigError(
            f"config: dataset '{name}' yields {available} sequences but {sampling['n_batches']} batches x "
            f"{sampling['batch_size']} need {needed}; raise n_documents or lower n_batches/batch_size"
        )


def probe_positions(probe: dict) -> int | None:
    """The longest sequence a text probe takes, where it is known without loading it: a built
    probe's n_positions, or a local folder's config.json; None for a hub id (checked in the job
    that first has the probe, before any embedding)."""
    if probe["build"] is not None:
        return probe["build"]["n_positions"]
    path = Path(probe["id"]) / "config.json"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for key in ("n_positions", "max_position_embeddings"):
        if isinstance(found.get(key), int):
            return found[key]
    return None


def check_length(name: str, max_length: int, positions: int | None) -> None:
    """Refuse token batches longer than the probe's positions (an IndexError inside the probe)."""
    if positions is not None and max_length > positions:
        raise ConfigError(
            f"config: 'datasets.{name}.sampling.max_length' is {max_length} but the probe takes at most "
            f"{positions} tokens (its n_positions); set max_length to {positions} or less"
        )


def _check_length(name: str, spec: dict) -> None:
    if modality(spec) == "text":
        check_length(name, spec["sampling"]["max_length"], probe_positions(spec["probe"]))


def _task_sampling(sampling: dict) -> dict:
    """Sampling of an image dataset: n_batches tasks of n_way classes x k_shot images; the
    batch of a task is its n_way x k_shot images and it has no token length."""
    return {**sampling, "batch_size": sampling["n_way"] * sampling["k_shot"], "max_length": None}


def check_config_files(files: list[str], record: str = paths.CONFIG_RECORD) -> None:
    """One folder, one config: raise ConfigError (one line) when ``record`` says this folder's
    report was made from other config files than ``files``, whose run would overwrite it."""
    try:
        with open(record) as lines:
            before = [line.strip() for line in lines if line.strip()]
    except FileNotFoundError:
        return
    if before != list(files):
        raise ConfigError(
            f"this folder's results/ holds the report of {', '.join(before)}, not of {', '.join(files)}: "
            "run it in a folder of its own with --directory <folder> (nothing here is overwritten), "
            f"or delete {record} to let it replace that report"
        )


# --- from measurement to decisions: downstream correlation, baselines, data selection ---


def _decisions(checked: dict, out: dict) -> dict:
    """The optional sections ``downstream``, ``baselines`` and ``selection``: a section that is
    absent (or null) is {} and switches its rule off; ``baselines: {}`` switches it on."""
    found = {key: checked.get(key) or {} for key in ("downstream", "baselines", "selection")}
    if found["selection"]:
        found["selection"] = _selection(found["selection"], out["datasets"])
    return found


def _selection(sel: dict, datasets: dict) -> dict:
    """Rank candidate sources by alignment to a target and mix them under a diversity floor."""
    if sel["target"] not in datasets:
        raise ConfigError(f"config: 'selection.target' must name a dataset of this config, got {sel['target']!r}")
    candidates = _known(sel["candidates"], datasets, "selection.candidates")
    if sel["target"] in candidates:
        raise ConfigError(f"config: 'selection.candidates' includes the target '{sel['target']}'; leave it out")
    _check_comparable([sel["target"], *candidates], datasets, "selection")
    if sel["n_batches"] is None:
        sel["n_batches"] = datasets[sel["target"]]["sampling"]["n_batches"]
    available = sum(datasets[c]["sampling"]["n_batches"] for c in candidates)
    if sel["n_batches"] > available:
        raise ConfigError(
            f"config: 'selection.n_batches' ({sel['n_batches']}) exceeds the candidates' {available} batches; lower it"
        )
    return sel
