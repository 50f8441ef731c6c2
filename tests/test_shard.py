"""Several embeddings in one process equal embeddings made by a freshly loaded probe each."""

import copy
import re

import numpy as np
import pytest
import torch

from task2vec_diversity import paths
from task2vec_diversity.shard import embed_shard
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


@pytest.mark.parametrize("per_job", [1, 10, 100])
def test_a_shard_writes_the_stores_of_its_batches_numbers(per_job):
    """The store every batch's embedding is read from (paths.batch_store) is written by the
    shard whose {shard} wildcard it matches, under the batch number the job gives it."""
    folder = "results/embeddings/c4/0123456789ab"
    for index in (0, 7, 42, 199, 1234):
        name = paths.batch_store(folder, index)
        patterns = [p.format(dataset="c4", key="0123456789ab", shard="{shard}") for p in paths.shard_stores(per_job)]
        regexes = [re.escape(p).replace(r"\{shard\}", r"(\d+)") for p in patterns]  # shard=r"\d+", as common.smk
        shards = {m.group(1) for r in regexes if (m := re.fullmatch(r, name))}
        assert len(shards) == 1, (name, patterns)
        shard = shards.pop()
        stores = [p.format(shard=shard) for p in patterns]
        assert dict(zip(paths.shard_batches(shard, per_job), stores))[index] == name
