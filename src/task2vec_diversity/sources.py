"""Preparing a dataset: the pool of documents its batches are drawn from, stored in the
order the batches consume them.

Sources: a Hugging Face hub dataset (streaming with a shuffle buffer reads only what the
batches need), local files through ``datasets.load_dataset``, or a built-in generator (the
lower and upper bounds of docs/method.md#bounds, GINC of docs/method.md#ginc). Empty texts are dropped.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pandas as pd

from .config import FILE_FORMATS, IMAGE_SOURCES
from .errors import DataError


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def ids_sha(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def pool_size(spec: dict) -> int:
    """How many documents the batches need."""
    return spec["sampling"]["n_batches"] * spec["sampling"]["batch_size"]


def _check_enough(name: str, found: int, spec: dict) -> None:
    """Distinct batches need n_batches x batch_size documents; with reuse, one batch's worth."""
    s = spec["sampling"]
    if found >= (s["batch_size"] if s["reuse_documents"] else pool_size(spec)):
        return
    raise DataError(
        f"dataset '{name}' has {found} non-empty documents but {s['n_batches']} batches x {s['batch_size']} "
        f"documents need {pool_size(spec)}; lower n_batches or batch_size, or set sampling.reuse_documents: true"
    )


def load_text_dataset(spec: dict):
    """The ``datasets`` object for a hub or files source (streaming when asked)."""
    import datasets

    if spec["source"] == "hub":
        return datasets.load_dataset(
            spec["path"],
            spec.get("name"),
            split=spec["split"],
            revision=spec.get("revision"),
            streaming=spec["streaming"],
        )
    return datasets.load_dataset(FILE_FORMATS[spec["format"]], data_files=spec["files"], split="train")


def _lookup(row: dict, dotted: str):
    """row["meta"]["pile_set_name"] for "meta.pile_set_name"."""
    for part in dotted.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def _texts(name: str, spec: dict):
    """Yield (document id, text) of the non-empty documents (of the subset ``filter``
    selects, if any), in sampling order. The id is the row's index in the source."""
    ds = load_text_dataset(spec)
    field, subset = spec["text_field"], spec.get("filter")
    columns = ds.column_names
    if columns is None:  # some streaming datasets only know their columns after the first row
        columns = list(next(iter(ds)).keys())
    needed = {"text_field": field, "filter.field": subset["field"].split(".")[0] if subset else field}
    for key, column in needed.items():
        if column not in columns:
            raise DataError(
                f"dataset '{name}': {key.replace('_', ' ')} '{column}' not found; available fields: "
                f"{', '.join(columns)}; set datasets.{name}.{key}"
            )
    ds = ds.select_columns(list(dict.fromkeys(needed.values())))

    def selected(row) -> bool:
        return subset is None or _lookup(row, subset["field"]) == subset["value"]

    if spec["source"] == "hub" and spec["streaming"]:
        ds = ds.map(lambda row, i: {"document_id": i}, with_indices=True).filter(selected)
        if spec["order"] == "random":
            ds = ds.shuffle(seed=spec["sampling"]["seed"], buffer_size=spec["shuffle_buffer"])
        rows = ((row["document_id"], row[field]) for row in ds)
    else:
        index = np.arange(len(ds)) if subset is None else np.flatnonzero([selected(row) for row in ds])
        if spec["order"] == "random":
            index = index[np.random.default_rng(spec["sampling"]["seed"]).permutation(len(index))]
        texts = ds[field]
        rows = ((int(i), texts[i]) for i in index)
    return ((i, t) for i, t in rows if isinstance(t, str) and t.strip())


def prepare_texts(name: str, spec: dict) -> pd.DataFrame:
    """The first documents of a hub or files source in sampling order, as many as needed."""
    needed = pool_size(spec)
    rows = list(itertools.islice(_texts(name, spec), needed))
    _check_enough(name, len(rows), spec)
    ids, texts = zip(*rows)
    return pd.DataFrame({"document_id": [str(i) for i in ids], "text": texts, "sha256": [text_sha(t) for t in texts]})


def lower_bound(n: int, length: int, vocab_size: int, eos_id: int, special_ids, rng) -> list[np.ndarray]:
    """Each sequence repeats one random non-special token; at every step after the first
    it ends with EOS with probability 1/|V|."""
    allowed = np.setdiff1d(np.arange(vocab_size), list(special_ids))
    token_rng, stop_rng = rng.spawn(2)  # two streams: the first k sequences do not depend on n
    tokens = token_rng.choice(allowed, size=n)
    stops = stop_rng.geometric(1.0 / vocab_size, size=n)  # position of the EOS, >= 1
    return [
        np.append(np.full(stop, tok), eos_id) if stop < length else np.full(length, tok)
        for tok, stop in zip(tokens, stops)
    ]


def upper_bound(n: int, length: int, vocab_size: int, eos_id: int, special_ids, rng) -> list[np.ndarray]:
    """Tokens uniform over the vocabulary (EOS included, special tokens other than EOS
    excluded); an EOS ends the sequence."""
    allowed = np.setdiff1d(np.arange(vocab_size), [i for i in special_ids if i != eos_id])
    draws = rng.choice(allowed, size=(n, length))
    out = []
    for row in draws:
        ends = np.flatnonzero(row == eos_id)
        out.append(row[: ends[0] + 1] if len(ends) else row)
    return out


def prepare_bound(name: str, spec: dict, tokenizer) -> pd.DataFrame:
    """Lower or upper bound sequences for the probe's tokenizer, pre-tokenised."""
    generate = lower_bound if spec["source"] == "lower_bound" else upper_bound
    rng = np.random.default_rng(spec["sampling"]["seed"])
    seqs = generate(
        pool_size(spec),
        spec["sampling"]["max_length"],
        len(tokenizer),
        tokenizer.eos_token_id,
        tokenizer.all_special_ids,
        rng,
    )
    return pd.DataFrame(
        {
            "document_id": [str(i) for i in range(len(seqs))],
            "input_ids": [s.astype(np.int32) for s in seqs],
            "sha256": [ids_sha(s) for s in seqs],
        }
    )


def prepare_ginc(name: str, spec: dict) -> pd.DataFrame:
    """GINC documents cut into sequences of ``max_length`` words, in document order
    (batches are consecutive chunks, as in the paper) or shuffled."""
    from .ginc import GincSpec, documents_as_text, generate_documents

    fields = {k: spec[k] for k in GincSpec.__dataclass_fields__ if k in spec}
    if fields.get("concepts") is not None:
        fields["concepts"] = tuple(fields["concepts"])
    ginc = GincSpec(**fields)
    symbols, _ = generate_documents(ginc)
    length = spec["sampling"]["max_length"]
    per_doc = ginc.document_length // length
    chunks = symbols[:, : per_doc * length].reshape(-1, length)
    ids = [f"{d}:{c}" for d in range(ginc.n_documents) for c in range(per_doc)]
    order = np.arange(len(chunks))
    if spec["order"] == "random":
        order = np.random.default_rng(spec["sampling"]["seed"]).permutation(len(chunks))
    _check_enough(name, len(order), spec)
    order = order[: pool_size(spec)]
    texts = documents_as_text(chunks[order], ginc.n_symbols)
    return pd.DataFrame({"document_id": [ids[i] for i in order], "text": texts, "sha256": [text_sha(t) for t in texts]})


def mix_counts(weights, batch_size: int) -> np.ndarray:
    """Documents per batch from each component: weight x batch size, rounded by largest
    remainder so that they sum to the batch size."""
    exact = np.asarray(weights, dtype=np.float64) * batch_size
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: batch_size - counts.sum()]] += 1
    return counts


def prepare_mix(name: str, spec: dict) -> pd.DataFrame:
    """An interleaved mix: every batch draws its documents from the components by weight.
    Each component is read with the mix's own sampling seed; batch i takes component
    documents [i*c, (i+1)*c), so batches stay distinct and adding batches keeps the first."""
    n, batch_size = spec["sampling"]["n_batches"], spec["sampling"]["batch_size"]
    parts = list(spec["components"].items())
    counts = mix_counts([part["weight"] for _, part in parts], batch_size)
    pools = []
    for (component, part), count in zip(parts, counts):
        sub = {**part["spec"], "sampling": {**spec["sampling"], "batch_size": int(count), "reuse_documents": False}}
        pool = prepare_texts(f"{name}/{component}", sub) if count else pd.DataFrame(columns=["document_id"])
        pool["document_id"] = component + ":" + pool["document_id"].astype(str)
        pools.append(pool)
    batches = [pool.iloc[i * c : (i + 1) * c] for i in range(n) for pool, c in zip(pools, counts)]
    return pd.concat(batches, ignore_index=True)


def prepare(name: str, spec: dict, tokenizer=None) -> pd.DataFrame:
    """The pool of a dataset: columns document_id, sha256 and text (or input_ids; or for an
    image dataset the images of its tasks, see images.prepare_images)."""
    if spec["source"] in ("hub", "files"):
        return prepare_texts(name, spec)
    if spec["source"] == "mix":
        return prepare_mix(name, spec)
    if spec["source"] == "ginc":
        return prepare_ginc(name, spec)
    if spec["source"] in IMAGE_SOURCES:
        from .images import prepare_images

        return prepare_images(name, spec)
    return prepare_bound(name, spec, tokenizer)
