"""The reference algorithm written the straightforward way, as the authors' code does it.

Kept as the yardstick of the engine (benchmarks/embedding.py, tests/test_task2vec.py):
a fresh deepcopy of the probe, every parameter requiring a gradient, HF's own ``labels=``
loss for fine-tuning (only the head handed to AdamW), a per-row Python loop to sample the
Fisher targets, a full backward in the Fisher pass with the squared gradient of every
parameter accumulated, and the embedding picked from those accumulators afterwards.
Only the reference variant. The one liberty: a mini-batch with no label left is skipped
(HF would give a NaN loss), as the engine does.
"""

from __future__ import annotations

import copy
import time

import torch

IGNORE = -100  # HF's ignored label


def _labels(tokens: torch.Tensor, eos_id: int) -> torch.Tensor:
    labels = tokens.clone()
    labels[labels == eos_id] = IGNORE  # the reference ignores EOS (HF itself only ignores -100)
    return labels


def baseline_embed(probe, input_ids, attention_mask, settings, batch_index, eos_id, targets=None):
    """(embedding, fine-tuning seconds, Fisher seconds) of one batch, reference variant."""
    model = copy.deepcopy(probe)
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    torch.manual_seed(settings.seed + batch_index)
    n, size = len(input_ids), settings.minibatch_size
    head = model.get_output_embeddings()
    optimizer = torch.optim.AdamW(
        head.parameters(), lr=settings.lr, betas=(0.9, 0.999), eps=settings.eps, weight_decay=settings.weight_decay
    )
    start = time.perf_counter()
    for _ in range(settings.epochs if settings.finetune else 0):
        for first in range(0, n, size):
            ids, mask = input_ids[first : first + size], attention_mask[first : first + size]
            labels = _labels(ids, eos_id)
            if (labels[:, 1:] == IGNORE).all():
                continue
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            model.zero_grad()
            loss.backward()
            optimizer.step()
            loss.item()  # the reference logs every step's loss
    finetune_seconds = time.perf_counter() - start

    start = time.perf_counter()
    fisher = {name: torch.zeros_like(p) for name, p in model.named_parameters()}
    count = 0
    for first in range(0, n, size):
        count += 1
        ids, mask = input_ids[first : first + size], attention_mask[first : first + size]
        model.zero_grad()
        logits = model(input_ids=ids, attention_mask=mask).logits
        if targets is None:
            probs = torch.softmax(logits.detach(), dim=-1)
            sampled = torch.stack([torch.multinomial(probs[row], 1).squeeze(-1) for row in range(len(ids))])
        else:
            sampled = targets[first : first + size]
        labels = _labels(sampled, eos_id)
        if (labels[:, 1:] == IGNORE).all():
            continue
        loss = model.loss_function(logits, labels, vocab_size=logits.shape[-1])  # what labels= computes
        loss.backward()
        for name, p in model.named_parameters():
            if p.grad is not None:
                fisher[name] += p.grad.detach() ** 2
    vector = []
    for name, module in model.named_modules():
        if module is not head and isinstance(getattr(module, "weight", None), torch.nn.Parameter):
            acc = fisher[f"{name}.weight"] / count
            vector.append(acc.reshape(acc.shape[0], -1).mean(dim=1))
    fisher_seconds = time.perf_counter() - start
    return torch.cat(vector).detach().cpu().numpy(), finetune_seconds, fisher_seconds
