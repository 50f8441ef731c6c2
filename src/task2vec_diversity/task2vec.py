"""Task2Vec embedding of one batch: the diagonal Fisher Information of a probe network
after a short fine-tuning of its head (docs/method.md#embedding-a-batch).

Two variants, never mixed:

- ``reference``: the paper's setting to the letter. Training mode (dropout on), only the
  (tied) LM head weight is optimised with AdamW, fine-tuning loss ignores label == EOS,
  Monte-Carlo Fisher with the reference's off-by-one (token sampled at t+1 scored against
  the logits at t), sampled targets equal to EOS ignored, pads not masked.
- ``exact``: eval mode (no dropout), the target sampled at t is scored against the logits
  at t, and positions whose predicted token is padding are masked in both losses. The head
  stays tied to the input embedding, as in the reference.

In both the Fisher is the squared gradient of each mini-batch MEAN loss, summed over the
mini-batches and divided by their number, reduced filter-wise (mean over all but the first
dimension of every module weight except the output embedding), in module order.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from transformers.activations import NewGELUActivation

from .config import VARIANTS
from .schema import defaults

_METHOD = defaults("task2vec_method")  # the defaults of config.schema.yaml

PRECISIONS = ("fp32", "tf32", "bf16")


@contextmanager
def precision(name: str, device: torch.device | str):
    """The arithmetic of the forwards inside: ``fp32`` (nothing changes), ``tf32`` (float32
    matmuls and convolutions may use TensorFloat-32 on a GPU; a CPU has none, so there it is
    fp32), ``bf16`` (autocast to bfloat16 on the device: matmuls in bf16, losses, softmax and
    the Fisher accumulators in float32). docs/performance.md gives each one's measured error."""
    if name == "fp32":
        yield
    elif name == "tf32":
        matmul, cudnn = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
        torch.set_float32_matmul_precision("high")
        torch.backends.cudnn.allow_tf32 = True
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(matmul)
            torch.backends.cudnn.allow_tf32 = cudnn
    else:
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            yield


@dataclass(frozen=True)
class Settings:
    variant: str = _METHOD["variant"]
    epochs: int = _METHOD["epochs"]
    lr: float = _METHOD["lr"]
    eps: float = _METHOD["eps"]
    weight_decay: float = _METHOD["weight_decay"]
    minibatch_size: int = _METHOD["minibatch_size"]
    finetune: bool = _METHOD["finetune"]
    seed: int = _METHOD["seed"]
    fisher_samples: int = _METHOD["fisher_samples"]
    precision: str = _METHOD["precision"]

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        if not isinstance(self.fisher_samples, int) or self.fisher_samples < 1:
            raise ValueError(f"fisher_samples must be a positive integer, got {self.fisher_samples!r}")


@dataclass
class Embedding:
    vector: np.ndarray
    epoch_losses: list[float] = field(default_factory=list)
    finetune_seconds: float = 0.0
    fisher_seconds: float = 0.0
    empty_minibatches: int = 0


def embedded_weights(model: torch.nn.Module) -> list[tuple[str, torch.nn.Parameter]]:
    """(module name, weight) of every module with a ``.weight``, in module order, except
    the output embedding (lm_head), whose tied weight is counted through the input
    embedding."""
    head = model.get_output_embeddings()
    return [
        (name, module.weight)
        for name, module in model.named_modules()
        if module is not head and isinstance(getattr(module, "weight", None), torch.nn.Parameter)
    ]


def fuse_activations(model: torch.nn.Module) -> torch.nn.Module:
    """Replace GPT-2's GELU written as eight elementwise operations (``gelu_new``) by the same
    function as one fused operation, forward and backward (``F.gelu(approximate="tanh")``:
    same constants, float rounding apart). In place; returns the model."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, NewGELUActivation):
                setattr(module, name, torch.nn.GELU(approximate="tanh"))
    return model


def filterwise_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean over all dimensions but the first (a vector stays as it is)."""
    return tensor.reshape(tensor.shape[0], -1).mean(dim=1)


IGNORE = -100  # target of a position that is not scored


def _scored(targets: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Targets of logits[:, :-1] as a full-length target (IGNORE where not valid and at the
    last position), so that the loss reads the logits unsliced: no slice in the backward."""
    return F.pad(torch.where(valid, targets, IGNORE), (0, 1), value=IGNORE)


def mean_loss(logits: torch.Tensor, scored: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean cross-entropy over the scored positions, their number); 0 when there is none."""
    total = F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), scored.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    count = (scored != IGNORE).sum()
    return total / count.clamp(min=1), count


def finetune_targets(input_ids, attention_mask, eos_id: int, variant: str) -> torch.Tensor:
    """Next-token targets: logits[:, :-1] against input_ids[:, 1:]."""
    targets = input_ids[:, 1:]
    valid = targets != eos_id if variant == "reference" else attention_mask[:, 1:].bool()
    return _scored(targets, valid)


def sample_targets(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per position, drawn from the model's own softmax at that position.

    By inverse CDF: one uniform per position, where torch.multinomial draws an exponential
    per vocabulary entry (most of the Fisher pass's time on a CPU). Same distribution."""
    cdf = torch.softmax(logits.detach().float(), dim=-1).cumsum_(dim=-1)
    u = torch.rand((*cdf.shape[:-1], 1), generator=generator, device=cdf.device) * cdf[..., -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp_(max=cdf.shape[-1] - 1)


def fisher_targets(sampled, attention_mask, eos_id: int, variant: str) -> torch.Tensor:
    """Targets whose loss has the Monte-Carlo Fisher of one mini-batch as its squared gradient."""
    if variant == "reference":
        # the reference's off-by-one: the token sampled at t+1 is scored against logits at t
        targets = sampled[:, 1:]
        return _scored(targets, targets != eos_id)
    return _scored(sampled[:, :-1], attention_mask[:, 1:].bool())


def _minibatches(n: int, size: int):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def finetune(model, input_ids, attention_mask, settings: Settings, eos_id: int, log=None) -> list[float]:
    """Fine-tune the (tied) head weight for ``settings.epochs`` epochs; returns mean loss per epoch.

    Only the head weight is handed to the optimiser, as in the reference; the other
    weights are frozen during fine-tuning, which skips their unused weight gradients
    without changing the head's gradient (it still flows through the whole network).
    Mini-batches with no target are skipped; the loss is read once per epoch (no sync per step).
    """
    head = model.get_output_embeddings().weight
    frozen = [p for p in model.parameters() if p is not head and p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    optimizer = torch.optim.AdamW(
        [head], lr=settings.lr, betas=(0.9, 0.999), eps=settings.eps, weight_decay=settings.weight_decay
    )
    scored = finetune_targets(input_ids, attention_mask, eos_id, settings.variant)
    counts = [(scored[mb] != IGNORE).sum() for mb in _minibatches(len(input_ids), settings.minibatch_size)]
    steps = [mb for mb, n in zip(_minibatches(len(input_ids), settings.minibatch_size), counts) if n > 0]
    epoch_losses = []
    try:
        for epoch in range(settings.epochs):
            total = torch.zeros((), device=input_ids.device)
            for mb in steps:
                optimizer.zero_grad(set_to_none=True)
                logits = model(input_ids=input_ids[mb], attention_mask=attention_mask[mb]).logits
                loss, _ = mean_loss(logits, scored[mb])
                loss.backward()
                optimizer.step()
                total += loss.detach()
            epoch_losses.append(total.item() / max(len(steps), 1))
            if log:
                log(f"epoch {epoch + 1}/{settings.epochs} loss {epoch_losses[-1]:.6f}")
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return epoch_losses


def fisher_diagonal(
    model,
    input_ids,
    attention_mask,
    settings: Settings,
    eos_id: int,
    targets: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[dict[int, torch.Tensor], int]:
    """Squared mini-batch-mean-loss gradients, summed and divided by the number of
    mini-batches, keyed by ``id(parameter)``. ``targets`` replaces the Monte-Carlo sample
    (for tests); ``generator`` draws the targets (default: torch's global stream); returns the
    accumulators and the number of mini-batch draws with no target (their gradient is zero).

    With ``settings.fisher_samples`` = K > 1 every mini-batch is drawn K times (a forward
    with its own dropout mask, then its own Monte-Carlo targets, one after the other from
    the same random stream) and the K squared gradients are averaged: the same expectation,
    K times less Monte-Carlo variance. K = 1 is the paper's estimator, operation for
    operation."""
    params = [p for _, p in embedded_weights(model)]
    acc = {id(p): torch.zeros_like(p) for p in params}
    batches = _minibatches(len(input_ids), settings.minibatch_size)
    empty = torch.zeros((), dtype=torch.long, device=input_ids.device)
    for mb in batches:
        for _ in range(settings.fisher_samples):
            logits = model(input_ids=input_ids[mb], attention_mask=attention_mask[mb]).logits
            sampled = sample_targets(logits, generator) if targets is None else targets[mb]
            loss, count = mean_loss(logits, fisher_targets(sampled, attention_mask[mb], eos_id, settings.variant))
            empty += count == 0
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            for p, g in zip(params, grads):
                if g is not None:
                    acc[id(p)].addcmul_(g, g)
    for value in acc.values():
        value /= len(batches) * settings.fisher_samples
    return acc, int(empty)


def embed(
    model, input_ids, attention_mask, settings: Settings, batch_index: int, eos_id: int, log=None, targets=None
) -> Embedding:
    """Task2Vec embedding of one batch. ``model`` must be a fresh copy of the probe: it is modified.
    ``targets`` replaces the Monte-Carlo sample of the Fisher pass (for tests and benchmarks)."""
    torch.manual_seed(settings.seed + batch_index)
    fuse_activations(model)
    if settings.variant == "reference":
        model.train()
    else:
        model.eval()
    result = Embedding(vector=np.empty(0, dtype=np.float32))
    with precision(settings.precision, input_ids.device):
        start = time.perf_counter()
        if settings.finetune and settings.epochs > 0:
            result.epoch_losses = finetune(model, input_ids, attention_mask, settings, eos_id, log)
        result.finetune_seconds = time.perf_counter() - start
        start = time.perf_counter()
        acc, result.empty_minibatches = fisher_diagonal(model, input_ids, attention_mask, settings, eos_id, targets)
        result.fisher_seconds = time.perf_counter() - start
    vector = torch.cat([filterwise_mean(acc[id(p)]) for _, p in embedded_weights(model)])
    result.vector = vector.detach().cpu().numpy().astype(np.float32)
    return result


# --- lockstep: several batches fine-tuned together through one forward of the frozen probe ---
#
# During fine-tuning only the head weight moves (tied to the input embedding in GPT-2); the
# rest of the probe is frozen and the same for every batch. So K batches are fine-tuned
# together: each has its own copy of that weight (and its AdamW state), their mini-batches
# go through one forward of the shared body (K x 8 sequences), and each batch's dropout masks
# and Monte-Carlo targets come from its own generator, seeded seed + batch index. The draws
# are made chunk by chunk exactly as torch's CPU dropout and SDPA's math path make them from
# the global generator, so on a CPU a batch gets the very masks the one-at-a-time engine gives
# it, whatever K is and whichever batches share its forward. The Fisher pass is made per batch
# (its gradient reaches every weight), with the batch's weight put back into the probe.


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
    mbs = _minibatches(len(items[0]["input_ids"]), size)
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
