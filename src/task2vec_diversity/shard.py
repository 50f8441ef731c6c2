"""Several embeddings per process: the probe and the tokens are loaded once, and every batch
still starts from a fresh copy of the probe (docs/method.md#embedding-a-batch)."""

from __future__ import annotations

from .lockstep import LockstepUnsupported, embed_batches
from .task2vec import Settings, embed


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


def _groups(batches: dict, size: int) -> list[dict]:
    """Consecutive items of ``batches`` in groups of at most ``size`` batches of one shape."""
    groups: list[dict] = []
    for index, batch in batches.items():
        last = groups[-1] if groups else None
        if last is None or len(last) == size or next(iter(last.values()))[0].shape != batch[0].shape:
            groups.append({})
        groups[-1][index] = batch
    return groups


def embed_shard(model, batches: dict, settings: Settings, eos_id: int, log=None, lockstep: int = 1):
    """Yield (batch index, Embedding) for each item of ``batches``, a mapping of batch index
    to (input_ids, attention_mask), each from a fresh copy of the probe: ``lockstep`` batches
    at a time fine-tuned together (``embed_batches``, the same embeddings to float rounding
    whatever ``lockstep`` is), or one at a time (``embed``) for a probe lockstep cannot run."""
    groups = _groups(batches, lockstep)
    for number, group in restored(model, dict(enumerate(groups))):
        try:
            yield from embed_batches(model, group, settings, eos_id, log).items()
        except LockstepUnsupported as why:
            if number:
                raise
            if log:
                log(f"{why}: one batch at a time")
            break
    else:
        return
    for index, (input_ids, attention_mask) in restored(model, batches):
        yield index, embed(model, input_ids, attention_mask, settings, index, eos_id, log)
