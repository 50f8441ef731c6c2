"""The identity of results: what a probe, a dataset's documents and its embeddings depend on,
and the short hashes that name the folders they are saved in.

Imported by rules/common.smk at parse time: no torch, no data access.
"""

from __future__ import annotations

import hashlib
import json

# dataset keys that change no result
COSMETIC_KEYS = ("description", "paper_diversity")
# task2vec keys that do not change an embedding: where it runs and how many are computed together
EXECUTION_KEYS = ("device", "embeddings_per_job", "lockstep")
# task2vec keys that join the identity only when they differ from these values, so that the
# embeddings computed before the key existed keep their folder
NEUTRAL_METHOD = {"fisher_samples": 1, "precision": "fp32"}
# sampling keys that shape a batch (n_way and k_shot: an image task's classes and images per class)
BATCH_SHAPE_KEYS = ("batch_size", "max_length", "n_way", "k_shot")


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def built_probe_path(build: dict) -> str:
    """Where a built probe is saved: named by a hash of how it is built."""
    return f"results/probe/{_digest(build)}"


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


def method_spec(task2vec: dict) -> dict:
    """A dataset's task2vec settings as they enter the identity (neutral values left out)."""
    return {
        k: v
        for k, v in task2vec.items()
        if k not in EXECUTION_KEYS and not (k in NEUTRAL_METHOD and v == NEUTRAL_METHOD[k])
    }


def embedding_spec(config: dict, dataset: str) -> dict:
    """Everything that changes a dataset's embeddings apart from the batch itself."""
    return {"probe": probe_spec(config, dataset), "task2vec": method_spec(config["datasets"][dataset]["task2vec"])}


def embedding_key(config: dict, dataset: str, files_sha256: dict | None = None) -> str:
    """Short hash naming a dataset's embeddings: the probe, the method, and everything the
    tokens of its batches depend on except how many batches there are (with the content
    hashes of its local data files, when it has any). Changing any of these embeds into a
    new folder; adding batches keeps the folder."""
    tokens = data_spec(config["datasets"][dataset])
    tokens["sampling"] = {k: v for k, v in tokens["sampling"].items() if k != "n_batches"}
    identity = {"embedding": embedding_spec(config, dataset), "tokens": tokens}
    if files_sha256:
        identity["files_sha256"] = files_sha256
    return _digest(identity)


def comparable(identity: dict, sampling: dict) -> dict:
    """What the embeddings of two datasets must share to meet in one coefficient (a pool, an
    alignment pair, a selection): their identity, which is the probe and every method setting,
    and the shape of their batches. The config check (before any job) and the jobs (from the
    provenance they read, where the batch shape is batch_size and max_length) both call this.

    The seed is part of the identity, so a pool of two seeds is refused: a coefficient is the
    mean distance of one method, and the seed is the method's (head, order, Monte-Carlo draws);
    a change of seed is how the noise floor is measured, not a setting to mix. Which documents
    a dataset holds (sampling.seed, n_batches, reuse_documents) may differ."""
    return {**identity, "sampling": {k: sampling[k] for k in BATCH_SHAPE_KEYS if k in sampling}}


def first_difference(a: dict, b: dict, prefix: str = "") -> tuple[str, object, object] | None:
    """The first dotted key (sorted) at which two nested mappings differ, with both values."""
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            found = first_difference(x, y, f"{prefix}{key}.")
            if found:
                return found
        elif json.dumps(x, sort_keys=True) != json.dumps(y, sort_keys=True):
            return f"{prefix}{key}", x, y
    return None
