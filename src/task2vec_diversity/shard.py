"""Several embeddings per process: the probe and the tokens are loaded once, and every batch
still starts from a fresh copy of the probe (docs/method.md#embedding-a-batch)."""

from __future__ import annotations

import re

from .task2vec import Settings, embed


def batch_index(path: str) -> int:
    """The batch number of an embedding store named ``.../batchNNNN.zarr``."""
    found = re.search(r"batch(\d+)\.zarr/?$", str(path))
    if not found:
        raise ValueError(f"not an embedding store name: {path}")
    return int(found.group(1))


def restored(model, batches: dict):
    """Yield the items of ``batches``; before each, the probe's parameters and buffers are
    restored to the values they had at the start, so each embedding equals one made by a
    freshly loaded probe."""
    loaded = {name: value.detach().clone() for name, value in model.state_dict().items()}
    for index, batch in batches.items():
        model.load_state_dict(loaded)
        for p in model.parameters():
            p.grad = None
        yield index, batch


def embed_shard(model, batches: dict, settings: Settings, eos_id: int, log=None):
    """Yield (batch index, Embedding) for each item of ``batches``, a mapping of batch index
    to (input_ids, attention_mask), each from a fresh copy of the probe."""
    for index, (input_ids, attention_mask) in restored(model, batches):
        yield index, embed(model, input_ids, attention_mask, settings, index, eos_id, log)
