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

lockstep.py computes the same embeddings several batches at a time (the shard jobs use it).
"""

from __future__ import annotations

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


def minibatches(n: int, size: int):
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
    counts = [(scored[mb] != IGNORE).sum() for mb in minibatches(len(input_ids), settings.minibatch_size)]
    steps = [mb for mb, n in zip(minibatches(len(input_ids), settings.minibatch_size), counts) if n > 0]
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
    batches = minibatches(len(input_ids), settings.minibatch_size)
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
