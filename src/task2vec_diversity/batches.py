"""Sampling batches from a dataset's pool and tokenising them for the probe.

The pool is stored in sampling order, so batch i holds pool rows [i*B, (i+1)*B): the
documents of different batches are distinct, and adding batches leaves the earlier ones
unchanged. With ``reuse_documents`` each batch draws B distinct rows of the pool with its
own seed (seed, i), so documents may recur across batches.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from .errors import DataError


def batch_rows(n_pool: int, n_batches: int, batch_size: int, reuse: bool, seed: int) -> np.ndarray:
    """Pool rows of every batch, shape (n_batches, batch_size)."""
    if reuse:
        if n_pool < batch_size:
            raise DataError(f"the pool holds {n_pool} documents, fewer than one batch of {batch_size}")
        return np.stack(
            [np.random.default_rng([seed, i]).choice(n_pool, batch_size, replace=False) for i in range(n_batches)]
        )
    if n_pool < n_batches * batch_size:
        raise DataError(
            f"the pool holds {n_pool} documents but {n_batches} batches x {batch_size} need "
            f"{n_batches * batch_size}; prepare the dataset again or lower n_batches"
        )
    return np.arange(n_batches * batch_size).reshape(n_batches, batch_size)


def pad(sequences, max_length: int, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad or truncate token sequences; returns input_ids and attention_mask."""
    ids = np.full((len(sequences), max_length), pad_id, dtype=np.int32)
    mask = np.zeros((len(sequences), max_length), dtype=np.int8)
    for row, seq in enumerate(sequences):
        seq = np.asarray(seq)[:max_length]
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def tokenize(pool: pd.DataFrame, tokenizer, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention masks of every pool row (pad = the tokenizer's EOS)."""
    if "input_ids" in pool:
        return pad(pool["input_ids"], max_length, tokenizer.pad_token_id)
    encoded = tokenizer(
        list(pool["text"]),
        padding="max_length",
        truncation=True,
        max_length=max_length,
        return_attention_mask=True,
    )
    return (
        np.asarray(encoded["input_ids"], dtype=np.int32),
        np.asarray(encoded["attention_mask"], dtype=np.int8),
    )


def tokens_sha(input_ids: np.ndarray, attention_mask: np.ndarray) -> str:
    """Identity of one batch's tokens."""
    sha = hashlib.sha256(np.ascontiguousarray(input_ids, dtype=np.int32).tobytes())
    sha.update(np.ascontiguousarray(attention_mask, dtype=np.int8).tobytes())
    return sha.hexdigest()[:16]


def sample(name: str, pool: pd.DataFrame, sampling: dict, tokenizer) -> tuple[dict, pd.DataFrame, list[str]]:
    """Arrays of all batches (input_ids, attention_mask, pool row), the manifest (one row
    per document of every batch) and the token hash of every batch."""
    rows = batch_rows(
        len(pool), sampling["n_batches"], sampling["batch_size"], sampling["reuse_documents"], sampling["seed"]
    )
    used = np.unique(rows)
    ids, mask = tokenize(pool.iloc[used], tokenizer, sampling["max_length"])
    where = np.searchsorted(used, rows)
    input_ids, attention_mask = ids[where], mask[where]
    for i, batch_mask in enumerate(attention_mask):
        if batch_mask[:, 1:].sum() == 0:
            raise DataError(
                f"dataset '{name}': batch {i} is all padding (no token to predict); check the text field "
                "and that the documents are not empty after tokenisation"
            )
    manifest = pd.DataFrame(
        {
            "batch": np.repeat(np.arange(rows.shape[0]), rows.shape[1]),
            "position": np.tile(np.arange(rows.shape[1]), rows.shape[0]),
            "document_id": pool["document_id"].to_numpy()[rows.ravel()],
            "sha256": pool["sha256"].to_numpy()[rows.ravel()],
            "n_tokens": attention_mask.sum(axis=2).ravel(),
        }
    )
    hashes = [tokens_sha(a, m) for a, m in zip(input_ids, attention_mask)]
    return {"input_ids": input_ids, "attention_mask": attention_mask, "pool_row": rows}, manifest, hashes
