"""Several embeddings in one process equal embeddings made by a freshly loaded probe each."""

import copy

import numpy as np
import pytest
import torch

from task2vec_diversity.shard import batch_index, embed_shard
from task2vec_diversity.task2vec import Settings, embed

from .test_task2vec import EOS, tiny_batch, tiny_model


def test_each_batch_of_a_shard_starts_from_the_loaded_probe():
    probe = tiny_model(dropout=0.1)
    batches = [tiny_batch(n=4, seed=s) for s in range(3)]
    settings = Settings(epochs=2, lr=1e-2, minibatch_size=2)
    model = copy.deepcopy(probe)
    shard = dict(embed_shard(model, {i: batches[i] for i in (2, 0, 1)}, settings, EOS, lockstep=2))
    assert list(shard) == [2, 0, 1]
    for i, (ids, mask) in enumerate(batches):
        alone = embed(copy.deepcopy(probe), ids, mask, settings, i, EOS)
        np.testing.assert_allclose(shard[i].vector, alone.vector, rtol=1e-4, atol=1e-12)  # lockstep: float rounding
    # lockstep fine-tunes copies of the head weight and puts the probe's back
    head = probe.get_output_embeddings().weight
    assert torch.equal(model.get_output_embeddings().weight, head)
    # one at a time (a probe lockstep cannot run) the reset before each batch matters: see
    # test_lockstep.py, test_a_probe_lockstep_cannot_run_is_refused_and_the_shard_embeds_it_alone


def test_batch_index_from_the_store_name():
    assert batch_index("results/embeddings/c4/0123456789ab/batch0042.zarr") == 42
    with pytest.raises(ValueError):
        batch_index("results/embeddings/c4/x.zarr")
