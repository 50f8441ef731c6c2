"""GINC: documents from a uniform mixture of HMMs, one HMM per latent concept.

After Xie et al. (2021), "An Explanation of In-context Learning as Implicit
Bayesian Inference" (arXiv 2111.02080). The hidden state is a (value, slot)
pair; values and slots evolve independently given the start state. The
emission table and value transitions are shared by all concepts; each concept
has its own start distribution and slot transitions. A concept's parameters
depend only on (seed, concept, sizes, temperatures), so datasets with more
concepts contain those of datasets with fewer. ``concepts`` restricts a dataset to some
concept indices of that universe (so datasets can share or not share concepts), and
``document_seed`` draws other documents from the same HMMs.
"""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

import numpy as np

from .schema import defaults

_GINC = defaults("source_ginc")  # the defaults of config.schema.yaml

# Tags that separate the independent random streams derived from one seed.
_EMISSION_STREAM = 0
_VALUE_STREAM = 1
_CONCEPT_STREAM = 2
_DOCUMENT_STREAM = 3


@dataclass(frozen=True)
class GincSpec:
    """Sizes, temperatures and seed of one GINC dataset."""

    n_concepts: int
    n_symbols: int = _GINC["n_symbols"]
    n_values: int = _GINC["n_values"]
    n_slots: int = _GINC["n_slots"]
    transition_temp: float = _GINC["transition_temp"]
    start_temp: float = _GINC["start_temp"]
    value_identity_coeff: float = _GINC["value_identity_coeff"]
    n_documents: int = _GINC["n_documents"]
    document_length: int = _GINC["document_length"]
    seed: int = _GINC["seed"]
    concepts: tuple | None = None  # concept indices the documents draw from (default: all)
    document_seed: int | None = None  # seed of the documents only (default: seed)

    def __post_init__(self) -> None:
        for name, minimum in (
            ("n_concepts", 1),
            ("n_symbols", 2),
            ("n_values", 1),
            ("n_slots", 1),
            ("n_documents", 1),
            ("document_length", 1),
            ("seed", 0),
        ):
            value = getattr(self, name)
            is_int = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            if not is_int or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        for name in ("transition_temp", "start_temp"):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not 0.0 <= self.value_identity_coeff <= 1.0:
            raise ValueError(f"value_identity_coeff must be in [0, 1], got {self.value_identity_coeff!r}")
        if self.concepts is not None:
            ok = all(isinstance(k, (int, np.integer)) and 0 <= k < self.n_concepts for k in self.concepts)
            if not self.concepts or not ok or len(set(self.concepts)) != len(self.concepts):
                raise ValueError(
                    f"concepts must be distinct integers in [0, {self.n_concepts}), got {list(self.concepts)!r}"
                )
        if self.document_seed is not None and (not isinstance(self.document_seed, int) or self.document_seed < 0):
            raise ValueError(f"document_seed must be an integer >= 0, got {self.document_seed!r}")


def _words():
    """Yield "a".."z", then letter words of growing length without repeats."""
    for length in itertools.count(1):
        for letters in itertools.permutations(string.ascii_lowercase, length):
            yield "".join(letters)


def vocabulary(n_symbols: int) -> list[str]:
    """Return the delimiter "/" followed by the first n_symbols - 1 words."""
    if n_symbols < 1:
        raise ValueError(f"n_symbols must be >= 1, got {n_symbols}")
    return ["/", *itertools.islice(_words(), n_symbols - 1)]


def _rng(spec: GincSpec, *stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([spec.seed, *stream]))


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def _transition_block(n: int, temp: float, rng: np.random.Generator) -> np.ndarray:
    """A softmax-weighted mixture of n random n x n permutation matrices."""
    perms = [rng.permutation(n) for _ in range(n)]
    weights = _softmax((rng.random(n) - 0.5) / temp)
    block = np.zeros((n, n))
    rows = np.arange(n)
    for weight, perm in zip(weights, perms):
        block[rows, perm] += weight
    return block


def emission_table(spec: GincSpec) -> np.ndarray:
    """Symbol emitted by each (value, slot); slot 0 always emits the delimiter 0."""
    rng = _rng(spec, _EMISSION_STREAM)
    table = rng.integers(1, spec.n_symbols, size=(spec.n_values, spec.n_slots))
    table[:, 0] = 0
    return table.astype(np.int64)


def value_transition(spec: GincSpec) -> np.ndarray:
    """Value transition matrix shared by all concepts."""
    rng = _rng(spec, _VALUE_STREAM)
    block = _transition_block(spec.n_values, spec.transition_temp, rng)
    c = spec.value_identity_coeff
    return c * np.eye(spec.n_values) + (1.0 - c) * block


def concept_parameters(spec: GincSpec, concept: int) -> tuple[np.ndarray, np.ndarray]:
    """Start distribution over value * n_slots + slot, and slot transitions."""
    if not 0 <= concept < spec.n_concepts:
        raise ValueError(f"concept must be in [0, {spec.n_concepts}), got {concept}")
    rng = _rng(spec, _CONCEPT_STREAM, int(concept))
    startprob = _softmax((rng.random(spec.n_values * spec.n_slots) - 0.5) / spec.start_temp)
    slot_transmat = _transition_block(spec.n_slots, spec.transition_temp, rng)
    return startprob, slot_transmat


def _cdf(probs: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(probs, axis=-1)
    cdf[..., -1] = 1.0  # guard against rounding: u < 1 always picks a state
    return cdf


def _inverse_cdf(cdf_rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index i with cdf[i-1] <= u < cdf[i], row by row."""
    return (cdf_rows <= u[:, None]).sum(axis=1)


def _sample_states(spec: GincSpec, concepts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Hidden value and slot paths, each (len(concepts), document_length)."""
    concepts = np.asarray(concepts)
    used, concept_index = np.unique(concepts, return_inverse=True)
    params = [concept_parameters(spec, int(k)) for k in used]
    start_cdf = _cdf(np.stack([start for start, _ in params]))
    slot_cdf = _cdf(np.stack([slot for _, slot in params]))
    slot_cdf = slot_cdf.reshape(len(used) * spec.n_slots, spec.n_slots)
    value_cdf = _cdf(value_transition(spec))

    n_docs, length = len(concepts), spec.document_length
    values = np.empty((length, n_docs), dtype=np.int32)
    slots = np.empty((length, n_docs), dtype=np.int32)
    start = _inverse_cdf(start_cdf[concept_index], rng.random(n_docs))
    values[0], slots[0] = np.divmod(start, spec.n_slots)
    row_offset = concept_index * spec.n_slots
    for t in range(1, length):
        u = rng.random((2, n_docs))
        values[t] = _inverse_cdf(value_cdf[values[t - 1]], u[0])
        slots[t] = _inverse_cdf(slot_cdf[row_offset + slots[t - 1]], u[1])
    return np.ascontiguousarray(values.T), np.ascontiguousarray(slots.T)


def generate_documents(spec: GincSpec) -> tuple[np.ndarray, np.ndarray]:
    """Symbols (n_documents, document_length) and the concept of each document."""
    seed = spec.seed if spec.document_seed is None else spec.document_seed
    rng = np.random.default_rng(np.random.SeedSequence([seed, _DOCUMENT_STREAM]))
    if spec.concepts is None:
        concepts = rng.integers(0, spec.n_concepts, size=spec.n_documents)
    else:
        concepts = np.asarray(spec.concepts)[rng.integers(0, len(spec.concepts), size=spec.n_documents)]
    values, slots = _sample_states(spec, concepts, rng)
    symbols = emission_table(spec).astype(np.int32)[values, slots]
    return symbols, concepts


def documents_as_text(symbols: np.ndarray, n_symbols: int) -> list[str]:
    """Each row of symbols as its vocabulary words joined by single spaces."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 2:
        raise ValueError(f"symbols must be 2-D (documents x positions), got {symbols.ndim}-D")
    if symbols.size and (symbols.min() < 0 or symbols.max() >= n_symbols):
        raise ValueError(f"symbols must be in [0, {n_symbols}), got [{symbols.min()}, {symbols.max()}]")
    words = vocabulary(n_symbols)
    return [" ".join([words[i] for i in row]) for row in symbols.tolist()]
