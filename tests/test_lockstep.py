"""Lockstep embedding (several batches fine-tuned through one forward of the frozen probe)
against the one-at-a-time engine, for a tied GPT-2 and an untied LLaMA-architecture probe."""

import copy

import numpy as np
import pytest
import torch
from transformers import GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from task2vec_diversity.lockstep import LockstepUnsupported, embed_batches
from task2vec_diversity.shard import embed_shard
from task2vec_diversity.task2vec import Settings, embed, embedded_weights

from .test_task2vec import EOS, tiny_batch, tiny_model

SETTINGS = Settings(epochs=3, lr=1e-2, minibatch_size=4)


def tiny_llama(attention_dropout=0.0, tied=False):
    """2 layers, width 8, 2 query heads sharing 1 key/value head (grouped-query attention)."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=12, hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=16, tie_word_embeddings=tied,
        attention_dropout=attention_dropout, pad_token_id=EOS, bos_token_id=EOS, eos_token_id=EOS,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def batches(n_batches=3, first_index=3):
    out = {first_index + 2 * k: tiny_batch(n=8, seed=k) for k in range(n_batches)}
    ids, mask = out[first_index]
    ids[4:, 1:], mask[4:, 1:] = EOS, 0  # its second mini-batch has no fine-tuning target: sits those steps out
    return out


def given_targets(group):
    g = torch.Generator().manual_seed(9)
    return {i: torch.randint(0, 12, ids.shape, generator=g) for i, (ids, _) in group.items()}


def alone(probe, group, index, targets=None):
    ids, mask = group[index]
    return embed(copy.deepcopy(probe), ids, mask, SETTINGS, index, EOS, targets=targets)


def close(a, b, rtol):
    np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("probe", [tiny_model(dropout=0.0), tiny_llama()], ids=["gpt2-tied", "llama-untied"])
def test_each_embedding_equals_the_one_at_a_time_engine(probe):
    """Dropout off, the same given targets: each of the K embeddings is the engine's, rtol 1e-4."""
    group = batches()
    targets = given_targets(group)
    together = embed_batches(copy.deepcopy(probe), group, SETTINGS, EOS, targets=targets)
    assert list(together) == list(group)
    untuned = embed(copy.deepcopy(probe), *group[3], Settings(epochs=0), 3, EOS, targets=targets[3]).vector
    for index in group:
        one = alone(probe, group, index, targets[index])
        close(together[index].vector, one.vector, rtol=1e-4)
        np.testing.assert_allclose(together[index].epoch_losses, one.epoch_losses, rtol=1e-5)
    assert not np.allclose(together[3].vector, untuned, rtol=1e-2)  # fine-tuning mattered
    assert not np.allclose(together[3].vector, together[5].vector, rtol=1e-2)  # and each batch is its own


@pytest.mark.parametrize(
    "probe", [tiny_model(dropout=0.1), tiny_llama(attention_dropout=0.1)], ids=["gpt2-tied", "llama-untied"]
)
def test_dropout_and_sampled_targets_each_batch_its_own_stream(probe):
    """Dropout on, Monte-Carlo targets: each batch draws from its own generator (seed + index),
    so its embedding does not depend on how many batches share its forward (float rounding
    apart) and, on a CPU, is the one-at-a-time engine's."""
    group = batches()
    by_k = {k: dict(embed_shard(copy.deepcopy(probe), group, SETTINGS, EOS, lockstep=k)) for k in (1, 2, 3)}
    for index in group:
        one = alone(probe, group, index)
        for k in (1, 2, 3):
            close(by_k[k][index].vector, by_k[1][index].vector, rtol=1e-5)
            close(by_k[k][index].vector, one.vector, rtol=1e-4)
    # the streams matter: another seed gives another embedding
    other = embed_batches(copy.deepcopy(probe), group, Settings(epochs=3, lr=1e-2, minibatch_size=4, seed=7), EOS)
    assert not np.allclose(other[5].vector, by_k[1][5].vector, rtol=1e-3)


def test_untied_probe_moves_its_head_only_and_the_embedding_holds_the_rest():
    """LLaMA-style untied head: fine-tuning moves lm_head.weight alone (the input embedding
    stays the probe's); the embedding holds the Fisher of the input embedding and of every
    body weight, not of lm_head."""
    probe = tiny_llama()
    names = [name for name, _ in embedded_weights(probe)]
    assert names[0] == "model.embed_tokens" and "lm_head" not in names and names[-1] == "model.norm"
    assert len(embed_batches(copy.deepcopy(probe), batches(1), SETTINGS, EOS)[3].vector) == sum(
        w.shape[0] for _, w in embedded_weights(probe)
    )
    model = copy.deepcopy(probe)
    parts_before = copy.deepcopy(model.state_dict())
    embed(model, *batches(1)[3], SETTINGS, 3, EOS)
    moved = [k for k, v in model.state_dict().items() if not torch.equal(v, parts_before[k])]
    assert moved == ["lm_head.weight"]


def test_the_probe_is_left_as_it_was_given():
    probe = tiny_model(dropout=0.1)
    model = copy.deepcopy(probe)
    embed_batches(model, batches(), SETTINGS, EOS)
    for name, value in probe.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    assert all(type(m) is not torch.nn.Dropout or type(m).__name__ == "Dropout" for m in model.modules())
    assert sum(type(m) is torch.nn.Dropout for m in model.modules()) == sum(
        type(m) is torch.nn.Dropout for m in probe.modules()
    )
    assert model.config._attn_implementation == probe.config._attn_implementation
    assert all(p.requires_grad for p in model.parameters())


class ScaledLogits(GPT2LMHeadModel):
    """A probe whose logits are not body x head (as soft-capped or scaled logits are not)."""

    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        out.logits = out.logits * 2
        return out


def test_a_probe_lockstep_cannot_run_is_refused_and_the_shard_embeds_it_alone():
    torch.manual_seed(0)
    probe = ScaledLogits(tiny_model(dropout=0.1).config)
    group = batches(2)
    with pytest.raises(LockstepUnsupported):
        embed_batches(copy.deepcopy(probe), group, SETTINGS, EOS)
    shard = dict(embed_shard(copy.deepcopy(probe), group, SETTINGS, EOS, lockstep=2))
    for index in group:
        np.testing.assert_array_equal(shard[index].vector, alone(probe, group, index).vector)
