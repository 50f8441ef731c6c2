"""The activation baseline: the probe's mean last hidden state of each batch, and the
dataset's mean pairwise cosine distance of those vectors.

For batch b with real (unpadded) token positions P_b (attention mask 1), the probe's last
hidden states x_t (the hidden state the LM head reads; for GPT-2 after the final layer norm),
forward pass only, eval mode (no dropout):

    m_b = (1 / |P_b|) sum_{t in P_b} x_t
    activation_diversity = mean over pairs i < j of 1 - <m_i, m_j> / (|m_i| |m_j|)

on the very batches of the Task2Vec coefficient, with the same bootstrap interval over batches.
"""

from __future__ import annotations

import numpy as np


def mean_hidden_states(model, input_ids, attention_mask, minibatch_size: int = 8) -> np.ndarray:
    """m_b of one batch ([sequences, tokens] tensors), float64, from the model's last hidden state."""
    import torch

    model.eval()
    total, count = None, 0
    with torch.no_grad():
        for start in range(0, len(input_ids), minibatch_size):
            ids = input_ids[start : start + minibatch_size]
            mask = attention_mask[start : start + minibatch_size]
            hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
            part = (hidden.double() * mask[..., None].double()).sum(dim=(0, 1))
            total = part if total is None else total + part
            count += int(mask.sum())
    if count == 0:
        raise ValueError("a batch with no real token has no mean hidden state")
    return (total / count).cpu().numpy()


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """[n, n] matrix of 1 - cosine similarity between the rows, 0 on the diagonal."""
    v = np.asarray(vectors, dtype=np.float64)
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    matrix = 1.0 - unit @ unit.T
    np.fill_diagonal(matrix, 0.0)
    return matrix
