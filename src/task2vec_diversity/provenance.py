"""Every result carries its provenance; results whose provenance differs are never mixed."""

from __future__ import annotations

import json

import numpy as np

from .errors import ProvenanceError
from .inputs import library_version
from .store import read_array


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _first_difference(a: dict, b: dict, prefix: str = "") -> str:
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            found = _first_difference(x, y, f"{prefix}{key}.")
            if found:
                return found
        elif _canonical(x) != _canonical(y):
            return f"{prefix}{key}: {x!r} vs {y!r}"
    return ""


def load_embeddings(paths, expected_identity: dict, batches_attrs: dict) -> tuple[np.ndarray, dict]:
    """Stack a dataset's embeddings after checking that every one was computed with the
    expected probe and method, from the same probe weights, and from the tokens its batch
    holds now. Returns the vectors and the provenance shared by all of them."""
    expected = json.loads(_canonical(expected_identity))
    vectors, revisions = [], set()
    hashes = batches_attrs["tokens_sha256"]
    for path in paths:
        vector, attrs = read_array(path, "embedding")
        if _canonical(attrs["identity"]) != _canonical(expected):
            raise ProvenanceError(
                f"{path} was computed with different settings ({_first_difference(attrs['identity'], expected)}); "
                "refusing to mix them: rerun its embedding or restore the config it was made with"
            )
        if attrs["tokens_sha256"] != hashes[attrs["batch"]]:
            raise ProvenanceError(
                f"{path} was computed from other tokens than batch {attrs['batch']} holds now; "
                "delete it and run the workflow again"
            )
        revisions.add(attrs["probe_revision"])
        vectors.append(vector)
    if len(revisions) > 1:
        raise ProvenanceError(
            f"embeddings of one dataset come from different probe weights ({', '.join(sorted(revisions))}); "
            "refusing to mix them: rerun the embeddings"
        )
    if len({len(v) for v in vectors}) > 1:
        raise ProvenanceError("embeddings differ in length; refusing to mix them: rerun the embeddings")
    shared = {
        "identity": expected,
        "dataset": batches_attrs["dataset"],
        "probe_revision": revisions.pop(),
        "dataset_revision": batches_attrs.get("dataset_revision"),
        "batch_size": batches_attrs["sampling"]["batch_size"],
        "max_length": batches_attrs["sampling"]["max_length"],
        "n_batches": len(vectors),
        "pool": batches_attrs.get("pool", {}),  # the documents' provenance (files, rows dropped)
        "library": library_version(),  # the code that computes the distances from them
    }
    return np.stack(vectors), shared


def check_comparable(a: dict, b: dict) -> None:
    """Refuse to put embeddings of different probes, weights, methods or batch shapes in one
    coefficient (their shared provenance as returned by load_embeddings)."""
    for key in ("identity", "probe_revision", "batch_size", "max_length"):
        if _canonical(a[key]) != _canonical(b[key]):
            detail = _first_difference(a[key], b[key]) if isinstance(a[key], dict) else f"{a[key]!r} vs {b[key]!r}"
            raise ProvenanceError(
                f"refusing to mix embeddings of '{a['dataset']}' and '{b['dataset']}': their {key} differs "
                f"({detail}); embed both with the same probe and settings"
            )
