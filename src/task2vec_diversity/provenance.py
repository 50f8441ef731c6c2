"""Every result carries its provenance; results whose provenance differs are never mixed."""

from __future__ import annotations

import json

import numpy as np

from .errors import ProvenanceError
from .identity import comparable, first_difference
from .inputs import library_version
from .store import read_array


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _difference(a: dict, b: dict) -> str:
    found = first_difference(a, b)
    return f"{found[0]}: {found[1]!r} vs {found[2]!r}" if found else ""


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
                f"{path} was computed with different settings ({_difference(attrs['identity'], expected)}); "
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
    """Refuse to put embeddings that are not comparable (identity.comparable), or that come from
    different probe weights, in one coefficient (their shared provenance as returned by
    load_embeddings)."""
    detail = _difference(comparable(a["identity"], a), comparable(b["identity"], b)) or _difference(
        {"probe_revision": a["probe_revision"]}, {"probe_revision": b["probe_revision"]}
    )
    if detail:
        raise ProvenanceError(
            f"refusing to mix embeddings of '{a['dataset']}' and '{b['dataset']}': they differ in {detail}; "
            "embed both with the same probe and settings"
        )
