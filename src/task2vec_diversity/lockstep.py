"""Lockstep: several batches fine-tuned together through one forward of the frozen probe,
each giving the embedding the one-at-a-time engine (task2vec.embed) gives it.

During fine-tuning only the head weight moves (tied to the input embedding in GPT-2); the
rest of the probe is frozen and the same for every batch. So K batches are fine-tuned
together: each has its own copy of that weight (and its AdamW state), their mini-batches
go through one forward of the shared body (K x 8 sequences), and each batch's dropout masks
and Monte-Carlo targets come from its own generator, seeded seed + batch index. The draws
are made chunk by chunk exactly as torch's CPU dropout and SDPA's math path make them from
the global generator, so on a CPU a batch gets the very masks the one-at-a-time engine gives
it, whatever K is and whichever batches share its forward. The Fisher pass is made per batch
(its gradient reaches every weight), with the batch's weight put back into the probe.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F

from .task2vec import (
    IGNORE,
    Embedding,
    Settings,
    embedded_weights,
    filterwise_mean,
    finetune_targets,
    fisher_diagonal,
    fuse_activations,
    mean_loss,
    minibatches,
    precision,
)


class _Streams(threading.local):
    chunks: list | None = None  # [(generator, rows or None for all rows)] of the running forward


_STREAMS = _Streams()
STREAM_ATTENTION = "task2vec_streams"


@contextmanager
def streams(chunks: list):
    """Dropout inside the block draws the masks of consecutive chunks of rows (dimension 0)
    from each chunk's own generator: ``chunks`` is [(generator, rows)], rows None = all."""
    previous, _STREAMS.chunks = _STREAMS.chunks, chunks
    try:
        yield
    finally:
        _STREAMS.chunks = previous


def _stream_noise(x: torch.Tensor, keep: float) -> torch.Tensor:
    """Dropout's scaled keep-mask of ``x`` as torch's CPU dropout makes it (a Bernoulli(keep)
    tensor divided by keep), each chunk of rows from its own generator."""
    noise = torch.empty_like(x)
    start = 0
    for generator, rows in _STREAMS.chunks:
        rows = len(x) - start if rows is None else rows
        noise[start : start + rows].bernoulli_(keep, generator=generator)
        start += rows
    if start != len(x):
        raise RuntimeError(f"random streams cover {start} rows of a forward of {len(x)}")
    return noise.div_(keep)


class StreamDropout(torch.nn.Dropout):
    """``nn.Dropout`` whose masks come from the active streams (torch's own when none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _STREAMS.chunks is None or not self.training or self.p == 0 or self.p == 1:
            return super().forward(x)
        return x * _stream_noise(x, 1 - self.p)


def _stream_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
    """transformers' SDPA attention; with dropout inside streams, SDPA's math path written out
    (scores, mask, softmax, dropout, values) so that the dropout draws from the streams."""
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    if dropout == 0.0 or _STREAMS.chunks is None or not module.training:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = query.shape[1] // key.shape[1]
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is None:
        q, k = query.shape[2], key.shape[2]
        attention_mask = torch.ones(q, k, dtype=torch.bool, device=query.device).tril(k - q)
    if attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask[..., : key.shape[2]], float("-inf"))
    else:
        scores = scores + attention_mask[..., : key.shape[2]]
    weights = torch.softmax(scores, dim=-1).to(value.dtype)
    weights = weights * _stream_noise(weights, 1 - dropout)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), None


def _register_stream_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(STREAM_ATTENTION, _stream_attention)
    AttentionMaskInterface.register(STREAM_ATTENTION, sdpa_mask)


@contextmanager
def _with_streams(model):
    """The probe with every ``nn.Dropout`` and its attention drawing from the active streams;
    put back as it was on exit."""
    _register_stream_attention()
    swapped = []
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) is torch.nn.Dropout:
                stream = StreamDropout(child.p, child.inplace)
                stream.train(child.training)
                setattr(parent, name, stream)
                swapped.append((parent, name, child, stream))
    attention = model.config._attn_implementation
    model.config._attn_implementation = STREAM_ATTENTION
    try:
        yield model
    finally:
        model.config._attn_implementation = attention
        for parent, name, child, stream in swapped:
            child.train(stream.training)
            setattr(parent, name, child)


class LockstepUnsupported(ValueError):
    """The probe's logits are not its body's output times its head weight (see ``_Parts``)."""


class _Parts:
    """The probe seen as frozen body + trainable head weight: logits = body(embedding) @ W^T
    (+ the head's bias), the input embedding being W itself when the head is tied to it."""

    def __init__(self, model):
        self.model = model
        self.head = model.get_output_embeddings()
        self.inputs = model.get_input_embeddings()
        self.body = model.base_model
        if not isinstance(self.head, torch.nn.Linear) or self.body is model:
            raise LockstepUnsupported(f"{type(model).__name__}: no separate body and Linear head")
        self.tied = self.head.weight is self.inputs.weight

    def logits(self, weights, input_ids, attention_mask, rows) -> list[torch.Tensor]:
        """Logits of consecutive chunks of ``rows`` sequences, chunk i with head weight ``weights[i]``."""
        spans = [slice(sum(rows[:i]), sum(rows[: i + 1])) for i in range(len(rows))]
        if self.tied:
            e = self.inputs
            embeds = torch.cat(
                [
                    F.embedding(input_ids[s], w, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse)
                    for w, s in zip(weights, spans)
                ]
            )
            hidden = self.body(inputs_embeds=embeds, attention_mask=attention_mask, use_cache=False)[0]
        else:  # the head alone moves: the body needs no backward
            with torch.no_grad():
                hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)[0]
        return [F.linear(hidden[s], w, self.head.bias) for w, s in zip(weights, spans)]

    def check(self, input_ids, attention_mask) -> None:
        """Refuse a probe whose own forward is not this (a scaled embedding, soft-capped logits...)."""
        training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                own = self.model(input_ids=input_ids, attention_mask=attention_mask).logits.float()
                ours = self.logits([self.head.weight], input_ids, attention_mask, [len(input_ids)])[0].float()
        finally:
            self.model.train(training)
        scale = own.abs().max().clamp(min=1.0)
        if own.shape != ours.shape or (own - ours).abs().max() > 1e-4 * scale:
            raise LockstepUnsupported(
                f"{type(self.model).__name__}: its logits are not body output x head weight; embed it one "
                "batch at a time (task2vec.lockstep: 1 falls back to that)"
            )


def _finetune_lockstep(parts: _Parts, weights, items, settings: Settings, eos_id: int, log=None) -> list[list[float]]:
    """Fine-tune each item's copy of the head weight on its batch, all items through one
    forward per mini-batch step; returns each item's mean loss per epoch. An item whose
    mini-batch has no target sits that step out (no forward, no draw, no optimiser step), as the
    one-at-a-time engine skips it."""
    size = settings.minibatch_size
    mbs = minibatches(len(items[0]["input_ids"]), size)
    scored = [finetune_targets(it["input_ids"], it["attention_mask"], eos_id, settings.variant) for it in items]
    live = torch.stack([torch.stack([(sc[mb] != IGNORE).any() for mb in mbs]) for sc in scored]).tolist()
    optimizer = torch.optim.AdamW(
        weights, lr=settings.lr, betas=(0.9, 0.999), eps=settings.eps, weight_decay=settings.weight_decay
    )
    losses = [[] for _ in items]
    for epoch in range(settings.epochs):
        totals = [torch.zeros((), device=w.device) for w in weights]
        for j, mb in enumerate(mbs):
            on = [k for k in range(len(items)) if live[k][j]]
            if not on:
                continue
            ids = torch.cat([items[k]["input_ids"][mb] for k in on])
            mask = torch.cat([items[k]["attention_mask"][mb] for k in on])
            rows = [mb.stop - mb.start] * len(on)
            optimizer.zero_grad(set_to_none=True)
            with streams([(items[k]["generator"], r) for k, r in zip(on, rows)]):
                logits = parts.logits([weights[k] for k in on], ids, mask, rows)
            step = [mean_loss(out, scored[k][mb])[0] for k, out in zip(on, logits)]
            sum(step).backward()
            optimizer.step()  # weights without a gradient (items sitting out) are left alone
            for k, loss in zip(on, step):
                totals[k] += loss.detach()
        for k, total in enumerate(totals):
            losses[k].append(total.item() / max(sum(live[k]), 1))
        if log:
            log(f"epoch {epoch + 1}/{settings.epochs} loss " + " ".join(f"{item[-1]:.6f}" for item in losses))
    return losses


def embed_batches(model, batches: dict, settings: Settings, eos_id: int, log=None, targets: dict | None = None) -> dict:
    """Task2Vec embeddings of several batches fine-tuned in lockstep: {batch index: Embedding}.

    ``batches`` maps batch index to (input_ids, attention_mask), all of one shape. Each
    embedding is the one-at-a-time engine's (``embed``) for that batch and index, to float
    rounding: same mathematics, same seed (``settings.seed`` + index) and, on a CPU, the same
    dropout masks and targets. ``targets`` (index -> tensor) replaces the Monte-Carlo sample.
    The probe is left as it was given (its weights are put back). Raises LockstepUnsupported
    for a probe whose logits are not its body's output times its head weight."""
    indices = list(batches)
    shapes = {tuple(batches[i][0].shape) for i in indices}
    if len(shapes) != 1:
        raise ValueError(f"lockstep batches must share one shape, got {sorted(shapes)}")
    device = batches[indices[0]][0].device
    fuse_activations(model)
    model.train() if settings.variant == "reference" else model.eval()
    parts = _Parts(model)
    first_ids, first_mask = batches[indices[0]]
    parts.check(first_ids[: settings.minibatch_size], first_mask[: settings.minibatch_size])
    head = parts.head.weight
    loaded = head.detach().clone()
    items = [
        {
            "index": i,
            "input_ids": batches[i][0],
            "attention_mask": batches[i][1],
            "generator": torch.Generator(device=device).manual_seed(settings.seed + i),
        }
        for i in indices
    ]
    results = {i: Embedding(vector=np.empty(0, dtype=np.float32)) for i in indices}
    frozen = [p for p in model.parameters() if p.requires_grad]
    with _with_streams(model), precision(settings.precision, device):
        start = time.perf_counter()
        weights = [loaded.clone().requires_grad_(True) for _ in items]
        if settings.finetune and settings.epochs > 0:
            for p in frozen:
                p.requires_grad_(False)
            try:
                losses = _finetune_lockstep(parts, weights, items, settings, eos_id, log)
            finally:
                for p in frozen:
                    p.requires_grad_(True)
            for item, item_losses in zip(items, losses):
                results[item["index"]].epoch_losses = item_losses
        share = (time.perf_counter() - start) / len(items)
        try:
            for item, weight in zip(items, weights):
                result = results[item["index"]]
                result.finetune_seconds = share
                start = time.perf_counter()
                with torch.no_grad():
                    head.copy_(weight)
                given = None if targets is None else targets[item["index"]]
                with streams([(item["generator"], None)]):
                    acc, result.empty_minibatches = fisher_diagonal(
                        model, item["input_ids"], item["attention_mask"], settings, eos_id, given, item["generator"]
                    )
                vector = torch.cat([filterwise_mean(acc[id(p)]) for _, p in embedded_weights(model)])
                result.vector = vector.detach().cpu().numpy().astype(np.float32)
                result.fisher_seconds = time.perf_counter() - start
        finally:
            with torch.no_grad():
                head.copy_(loaded)
    return results
