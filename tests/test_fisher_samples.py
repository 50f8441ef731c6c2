"""task2vec.fisher_samples: K Monte-Carlo draws per Fisher mini-batch. K = 1 is the engine as it
was (bit for bit); K > 1 has the same expectation and a lower variance."""

import copy
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from transformers import GPT2Config, GPT2LMHeadModel

from task2vec_diversity import config as cfg
from task2vec_diversity.task2vec import Settings, embed

EOS = 0

_spec = importlib.util.spec_from_file_location("frozen_engine", Path(__file__).parent / "frozen_engine.py")
frozen = sys.modules.setdefault("frozen_engine", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(frozen)


def tiny_model(dropout=0.1, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=12, n_positions=10, n_embd=8, n_layer=2, n_head=2,
        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
    )  # fmt: skip
    return GPT2LMHeadModel(config)


def tiny_batch(n=8, length=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 12, (n, length), generator=g)
    mask = torch.ones_like(ids)
    ids[0, 6:] = EOS
    mask[0, 6:] = 0
    return ids, mask


@pytest.mark.parametrize("variant", ["reference", "exact"])
def test_one_sample_is_the_engine_as_it_was_bit_for_bit(variant):
    """Default settings (fisher_samples 1) against a verbatim copy of the engine at 6584270,
    dropout on, sampled targets, fine-tuning included."""
    probe = tiny_model(dropout=0.1)
    ids, mask = tiny_batch()
    now = embed(copy.deepcopy(probe), ids, mask, Settings(variant=variant, epochs=2, lr=1e-2, minibatch_size=4), 3, EOS)
    before = frozen.embed(
        copy.deepcopy(probe), ids, mask, frozen.Settings(variant=variant, epochs=2, lr=1e-2, minibatch_size=4), 3, EOS
    )
    np.testing.assert_array_equal(now.vector, before.vector)
    assert now.epoch_losses == before.epoch_losses


def embeddings(probe, ids, mask, samples, seeds):
    settings = [Settings(finetune=False, minibatch_size=4, seed=s, fisher_samples=samples) for s in seeds]
    return np.stack([embed(copy.deepcopy(probe), ids, mask, st, 0, EOS).vector for st in settings]).astype(np.float64)


def test_more_samples_same_mean_lower_variance():
    """No fine-tuning, so that all the randomness is the Fisher pass's (dropout masks and targets).
    Over N seeds each, the per-coordinate means of K = 4 and K = 1 differ by less than a
    Bonferroni bound derived from the per-coordinate variances (Welch's standard error), and
    K = 4's per-coordinate variance is lower, about a quarter."""
    probe = tiny_model(dropout=0.1)
    ids, mask = tiny_batch()
    n = 40
    one = embeddings(probe, ids, mask, 1, range(n))
    four = embeddings(probe, ids, mask, 4, range(1000, 1000 + n))
    var1, var4 = one.var(axis=0, ddof=1), four.var(axis=0, ddof=1)
    live = var1 > 0  # the last position's embedding row has no gradient: always 0
    assert live.sum() > 0.9 * len(live) and (one[:, ~live] == 0).all() and (four[:, ~live] == 0).all()
    one, four, var1, var4 = one[:, live], four[:, live], var1[live], var4[live]
    standard_error = np.sqrt(var1 / n + var4 / n)
    bound = stats.norm.ppf(1 - 0.001 / (2 * one.shape[1]))  # family-wise error 1e-3
    z = np.abs(one.mean(axis=0) - four.mean(axis=0)) / standard_error
    assert z.max() < bound, (z.max(), bound)
    # 1/4 expected; squared gradients are heavy-tailed, so 40 draws estimate a variance loosely:
    # a few coordinates may come out the other way
    ratio = var4 / var1
    assert (ratio < 1).mean() > 0.9 and np.median(ratio) < 0.4
    assert 0.1 < var4.sum() / var1.sum() < 0.45
    # the test can fail: a mean 1.5 times as large is outside the bound
    shifted = np.abs(one.mean(axis=0) - 1.5 * four.mean(axis=0)) / standard_error
    assert shifted.max() > bound


def test_given_targets_without_dropout_k_draws_equal_one():
    """With dropout off and given targets every draw is the same, so the average is the one draw."""
    probe = tiny_model(dropout=0.0)
    ids, mask = tiny_batch()
    targets = torch.randint(0, 12, ids.shape, generator=torch.Generator().manual_seed(5))
    one = embed(copy.deepcopy(probe), ids, mask, Settings(finetune=False, minibatch_size=4), 0, EOS, targets=targets)
    three = embed(
        copy.deepcopy(probe),
        ids,
        mask,
        Settings(finetune=False, minibatch_size=4, fisher_samples=3),
        0,
        EOS,
        targets=targets,
    )
    np.testing.assert_allclose(three.vector, one.vector, rtol=1e-6)


def test_fisher_samples_is_identity_only_when_not_one():
    base = {"probe": {"id": "gpt2"}, "datasets": {"a": {"source": "upper_bound"}}}
    key = cfg.embedding_key(cfg.validate(base), "a")
    one = cfg.validate({**base, "task2vec": {"fisher_samples": 1}})
    four = cfg.validate({**base, "task2vec": {"fisher_samples": 4}})
    assert cfg.embedding_key(one, "a") == key != cfg.embedding_key(four, "a")
    assert Settings(**cfg.embedding_spec(four, "a")["task2vec"]).fisher_samples == 4
    with pytest.raises(cfg.ConfigError, match="fisher_samples"):
        cfg.validate({**base, "task2vec": {"fisher_samples": 0}})


def test_reduced_precisions_outside_their_tolerance_are_refused():
    base = {"probe": {"id": "gpt2"}, "datasets": {"a": {"source": "upper_bound"}}}
    key = cfg.embedding_key(cfg.validate(base), "a")
    assert cfg.embedding_key(cfg.validate({**base, "task2vec": {"precision": "fp32"}}), "a") == key
    for name in ("bf16", "tf32", "fp16"):
        with pytest.raises(cfg.ConfigError, match="precision"):
            cfg.validate({**base, "task2vec": {"precision": name}})
