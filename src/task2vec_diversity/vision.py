"""Task2Vec embedding of a few-shot image classification task with an image probe such as
the ImageNet-trained ResNet-18 / ResNet-34 (``microsoft/resnet-18``, ``microsoft/resnet-34``
through ``AutoModelForImageClassification``), as in the original Task2Vec (Achille et al.
2019, Monte-Carlo Fisher) and docs/method.md#vision:

1. The probe's final classifier (the last ``nn.Linear`` of its ``classifier``, ImageNet's
   1000 classes) is replaced once by a new ``Linear(features, n_way)`` for the task's N
   classes; before each task it is re-initialised (PyTorch's default Linear init) with the
   seed ``seed + task index``.
2. "Fit the final classifier": the probe's features (the input of that Linear, computed
   once with the rest of the network frozen) are cached, and only the new classifier is
   trained on them against the task's true labels: Adam (``lr``, ``eps``,
   ``weight_decay`` as L2 in the gradient, betas (0.9, 0.999)) for ``epochs`` epochs over
   mini-batches of ``minibatch_size`` images in the task's (shuffled) order, mean
   cross-entropy. (``finetune: false`` keeps the classifier at its initialisation.)
3. Monte-Carlo Fisher over the whole network: one pass over the task's images in
   mini-batches of ``minibatch_size``; for each, labels are sampled from the model's own
   softmax, the loss is the mean cross-entropy of the mini-batch against them, and the
   squares of its gradient are added up; the sums are divided by the number of
   mini-batches. This is the squared gradient of a mini-batch MEAN loss, as for text.
4. Embedding: the filter-wise mean (over all dimensions but the first) of the Fisher of the
   weight of every convolution and linear layer except the classifier, in module order.

The network is in eval mode throughout: batch norm uses the probe's ImageNet running
statistics (fixed, not those of the task's mini-batches) and ResNets have no dropout.

Where this differs from the original code (documented choices): the original optimiser
loop draws mini-batches with a class-balanced random sampler of 64 with replacement and
drops the last incomplete one; here every image is used once per epoch in the task's fixed
order. The original embedding also includes batch-norm scale weights; docs/method.md#vision says
convolution and linear weights, which is what this module embeds. Text-only settings
(``variant``) do not apply: the config accepts only ``reference`` for image tasks.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from .shard import restored
from .task2vec import Embedding, Settings, filterwise_mean, sample_targets


def _head_slot(model) -> tuple[torch.nn.Module, str]:
    """(parent module, attribute name) of the probe's final classifier Linear."""
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, torch.nn.Linear):
        return model, "classifier"
    if isinstance(classifier, torch.nn.Sequential):
        names = [name for name, m in classifier.named_children() if isinstance(m, torch.nn.Linear)]
        if names:
            return classifier, names[-1]
    raise ValueError(
        f"{type(model).__name__} has no classifier Linear (model.classifier, or a Sequential ending in one); "
        "use an image classification model such as microsoft/resnet-18"
    )


def head(model) -> torch.nn.Linear:
    parent, name = _head_slot(model)
    return getattr(parent, name)


def with_task_head(model, n_way: int):
    """Replace the probe's final classifier by a Linear with ``n_way`` outputs (in place)."""
    parent, name = _head_slot(model)
    old = getattr(parent, name)
    new = torch.nn.Linear(old.in_features, n_way, device=old.weight.device, dtype=old.weight.dtype)
    setattr(parent, name, new)
    model.config.num_labels = n_way
    return model


def embedded_weights(model) -> list[tuple[str, torch.nn.Parameter]]:
    """(module name, weight) of every convolution and linear layer except the classifier,
    in module order."""
    skip = head(model)
    kinds = (torch.nn.modules.conv._ConvNd, torch.nn.Linear)
    return [(name, m.weight) for name, m in model.named_modules() if isinstance(m, kinds) and m is not skip]


def _minibatches(n: int, size: int):
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


@torch.no_grad()
def features(model, pixel_values: torch.Tensor, minibatch_size: int) -> torch.Tensor:
    """The probe's features of every image: the input of its final classifier."""
    captured = []
    hook = head(model).register_forward_pre_hook(lambda module, args: captured.append(args[0].detach()))
    try:
        for mb in _minibatches(len(pixel_values), minibatch_size):
            model(pixel_values=pixel_values[mb])
    finally:
        hook.remove()
    return torch.cat(captured)


def fit_classifier(classifier: torch.nn.Linear, feats, labels, settings: Settings, log=None) -> list[float]:
    """Train the task's classifier on the cached features; returns the mean loss per epoch."""
    optimizer = torch.optim.Adam(
        classifier.parameters(),
        lr=settings.lr,
        betas=(0.9, 0.999),
        eps=settings.eps,
        weight_decay=settings.weight_decay,
    )
    steps = _minibatches(len(feats), settings.minibatch_size)
    epoch_losses = []
    with torch.enable_grad():
        for epoch in range(settings.epochs):
            total = torch.zeros((), device=feats.device)
            for mb in steps:
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(classifier(feats[mb]), labels[mb])
                loss.backward()
                optimizer.step()
                total += loss.detach()
            epoch_losses.append(total.item() / len(steps))
            if log:
                log(f"classifier epoch {epoch + 1}/{settings.epochs} loss {epoch_losses[-1]:.6f}")
    return epoch_losses


def fisher_diagonal(model, pixel_values, settings: Settings, targets: torch.Tensor | None = None) -> dict:
    """Squared mini-batch-mean-loss gradients against labels sampled from the model's
    softmax, summed and divided by the number of mini-batches, keyed by ``id(weight)``.
    ``targets`` replaces the Monte-Carlo sample (for tests)."""
    params = [p for _, p in embedded_weights(model)]
    acc = {id(p): torch.zeros_like(p) for p in params}
    batches = _minibatches(len(pixel_values), settings.minibatch_size)
    samples = settings.fisher_samples  # K > 1: K label draws per mini-batch, squared gradients averaged
    for mb in batches:
        for _ in range(samples):
            logits = model(pixel_values=pixel_values[mb]).logits
            sampled = sample_targets(logits) if targets is None else targets[mb]
            loss = F.cross_entropy(logits.float(), sampled)
            for p, g in zip(params, torch.autograd.grad(loss, params)):
                acc[id(p)].addcmul_(g, g)
    for value in acc.values():
        value /= len(batches) * samples
    return acc


def embed_task(model, pixel_values, labels, settings: Settings, task_index: int, log=None, targets=None) -> Embedding:
    """Task2Vec embedding of one task. ``model`` carries the task head (``with_task_head``)
    and is modified. ``targets`` replaces the Monte-Carlo sample (for tests)."""
    torch.manual_seed(settings.seed + task_index)
    model.eval()
    classifier = head(model)
    classifier.reset_parameters()
    result = Embedding(vector=np.empty(0, dtype=np.float32))
    start = time.perf_counter()
    if settings.finetune and settings.epochs > 0:
        feats = features(model, pixel_values, settings.minibatch_size)
        result.epoch_losses = fit_classifier(classifier, feats, labels, settings, log)
    result.finetune_seconds = time.perf_counter() - start
    start = time.perf_counter()
    acc = fisher_diagonal(model, pixel_values, settings, targets)
    result.fisher_seconds = time.perf_counter() - start
    vector = torch.cat([filterwise_mean(acc[id(p)]) for _, p in embedded_weights(model)])
    result.vector = vector.detach().cpu().numpy().astype(np.float32)
    return result


def embed_tasks(model, tasks: dict, settings: Settings, log=None):
    """Yield (task index, Embedding) for each item of ``tasks``, a mapping of task index to
    (pixel_values, labels), each from a fresh copy of the probe (with its task head)."""
    for index, (pixel_values, labels) in restored(model, tasks):
        yield index, embed_task(model, pixel_values, labels, settings, index, log)
