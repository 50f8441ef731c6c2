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
        assert name in stores and paths.batch_index(name) == index
        # the shard's stores are its per_job consecutive batches, as paths.shards cuts them
        first = index - index % per_job
        assert [paths.batch_index(s) for s in stores] == list(range(first, first + per_job))
        assert (first, per_job) in paths.shards(first + per_job, per_job)


def test_shards_of_any_size_cover_every_batch_once():
    """Worked by hand: 25 batches, 10 a job, are 0-9, 10-19 and a last job of 20-24."""
    assert paths.shards(25, 10) == [(0, 10), (10, 10), (20, 5)]
    assert paths.shards(7, 3) == [(0, 3), (3, 3), (6, 1)]
    assert paths.shards(4, 16) == [(0, 4)]
    for n, per_job in [(1, 1), (200, 10), (199, 7), (1000, 64)]:
        covered = [first + k for first, count in paths.shards(n, per_job) for k in range(count)]
        assert covered == list(range(n))
    assert paths.prefix_shards(200, 10) and paths.prefix_shards(3, 1)
    assert not paths.prefix_shards(25, 10) and not paths.prefix_shards(14, 7)


def test_the_shards_embed_shard_cannot_name_get_a_rule_each_shared_by_datasets():
    n_batches = {"regular": 20, "tail": 25, "longer": 35}
    other = paths.other_shards(n_batches, 10)
    # "regular" is all embed_shard's; the others' shards are written out, 0-9 and 10-19 shared
    assert other == {
        (0, 10): ["tail", "longer"],
        (10, 10): ["tail", "longer"],
        (20, 5): ["tail"],
        (20, 10): ["longer"],
        (30, 5): ["longer"],
    }
    stores = paths.listed_stores(20, 5)
    assert stores[0] == "results/embeddings/{dataset}/{key}/batch0020.zarr" and len(stores) == 5
    assert [paths.batch_index(s) for s in stores] == [20, 21, 22, 23, 24]
    assert set(paths.other_shards({"a": 14, "b": 7}, 7)) == {(0, 7), (7, 7)}
