"""The Fisher embedding against an independent, slow computation from the definition."""

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from task2vec_diversity.task2vec import (
    Settings,
    embed,
    embedded_weights,
    filterwise_mean,
    finetune,
    fisher_diagonal,
    sample_targets,
)

EOS = 0

_spec = importlib.util.spec_from_file_location("baseline", Path(__file__).parents[1] / "benchmarks" / "baseline.py")
baseline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(baseline)


def tiny_model(dropout=0.0, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=12,
        n_positions=10,
        n_embd=8,
        n_layer=2,
        n_head=2,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
    )
    return GPT2LMHeadModel(config)


def tiny_batch(n=6, length=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 12, (n, length), generator=g)
    mask = torch.ones_like(ids)
    ids[0, 6:] = EOS  # a padded sequence
    mask[0, 6:] = 0
    ids[1, 3] = EOS  # a real EOS inside a sequence
    return ids, mask


def slow_fisher_embedding(model, ids, mask, targets, variant, minibatch):
    """From the definition, one parameter and one mini-batch at a time, with explicit loops."""
    model.train() if variant == "reference" else model.eval()
    names = []
    for name, module in model.named_modules():
        if name != "lm_head" and isinstance(getattr(module, "weight", None), torch.nn.Parameter):
            names.append((name, module.weight))
    sums = {name: torch.zeros_like(w) for name, w in names}
    starts = list(range(0, len(ids), minibatch))
    for start in starts:
        x, m, y = ids[start : start + minibatch], mask[start : start + minibatch], targets[start : start + minibatch]
        terms = []
        for b in range(len(x)):
            for t in range(x.shape[1] - 1):
                if variant == "reference":
                    target = y[b, t + 1]
                    keep = target != EOS
                else:
                    target = y[b, t]
                    keep = m[b, t + 1] == 1
                if keep:
                    terms.append((b, t, target))
        out = model(input_ids=x, attention_mask=m).logits
        losses = [-torch.log_softmax(out[b, t], dim=-1)[target] for b, t, target in terms]
        loss = sum(losses) / len(losses)
        for name, w in names:
            (grad,) = torch.autograd.grad(loss, w, retain_graph=True)
            sums[name] += grad**2
    vector = []
    for name, _ in names:
        acc = sums[name] / len(starts)
        for row in range(acc.shape[0]):
            vector.append(acc[row].reshape(-1).sum() / acc[row].numel())
    return torch.stack(vector).detach().numpy()


@pytest.mark.parametrize("variant", ["reference", "exact"])
def test_fisher_equals_slow_definition(variant):
    model = tiny_model()
    ids, mask = tiny_batch()
    targets = torch.randint(0, 12, ids.shape, generator=torch.Generator().manual_seed(5))
    targets[2, :] = EOS  # sampled EOS targets are ignored by the reference
    settings = Settings(variant=variant, minibatch_size=4)
    model.train() if variant == "reference" else model.eval()
    acc, empty = fisher_diagonal(model, ids, mask, settings, EOS, targets=targets)
    fast = torch.cat([filterwise_mean(acc[id(p)]) for _, p in embedded_weights(model)]).numpy()
    slow = slow_fisher_embedding(model, ids, mask, targets, variant, minibatch=4)
    assert empty == 0
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-12)


def test_variants_differ_on_the_same_targets():
    model = tiny_model()
    ids, mask = tiny_batch()
    targets = torch.randint(0, 12, ids.shape, generator=torch.Generator().manual_seed(5))
    ref, _ = fisher_diagonal(model, ids, mask, Settings(variant="reference"), EOS, targets=targets)
    exact, _ = fisher_diagonal(model, ids, mask, Settings(variant="exact"), EOS, targets=targets)
    p = model.transformer.wte.weight
    assert not torch.allclose(ref[id(p)], exact[id(p)])


def test_module_order_and_size_of_gpt2():
    """GPT-2 (124M) gives 134,993 values: wte, wpe, 12 x (ln_1, c_attn, c_proj, ln_2, c_fc, c_proj), ln_f."""
    with torch.device("meta"):
        model = GPT2LMHeadModel(GPT2Config())
    weights = embedded_weights(model)
    names = [name for name, _ in weights]
    assert names[:8] == [
        "transformer.wte",
        "transformer.wpe",
        "transformer.h.0.ln_1",
        "transformer.h.0.attn.c_attn",
        "transformer.h.0.attn.c_proj",
        "transformer.h.0.ln_2",
        "transformer.h.0.mlp.c_fc",
        "transformer.h.0.mlp.c_proj",
    ]
    assert names[-1] == "transformer.ln_f" and "lm_head" not in names
    sizes = [w.shape[0] for _, w in weights]
    assert sizes[:8] == [50257, 1024, 768, 768, 768, 768, 768, 3072]
    assert sum(sizes) == 134_993


def test_filterwise_mean_by_hand():
    t = torch.tensor([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]])
    assert filterwise_mean(t).tolist() == [2.0, 6.0]
    assert filterwise_mean(torch.tensor([5.0, 7.0])).tolist() == [5.0, 7.0]
    assert filterwise_mean(torch.ones(3, 2, 2) * torch.arange(3.0)[:, None, None]).tolist() == [0.0, 1.0, 2.0]


def test_finetuning_moves_only_the_tied_head():
    model = tiny_model(dropout=0.1)
    before = copy.deepcopy(model.state_dict())
    ids, mask = tiny_batch()
    model.train()
    losses = finetune(model, ids, mask, Settings(epochs=3, lr=1e-2, minibatch_size=4), EOS)
    after = model.state_dict()
    assert len(losses) == 3 and all(np.isfinite(losses))
    assert not torch.equal(before["transformer.wte.weight"], after["transformer.wte.weight"])
    assert model.lm_head.weight is model.transformer.wte.weight
    for name in after:
        if name not in ("transformer.wte.weight", "lm_head.weight"):
            assert torch.equal(before[name], after[name]), name
    assert all(p.requires_grad for p in model.parameters())


def test_targets_are_sampled_from_the_softmax():
    logits = torch.log(torch.tensor([[[0.7, 0.2, 0.1]]])).expand(1, 20000, 3)
    sampled = sample_targets(logits, torch.Generator().manual_seed(0))
    freq = np.bincount(sampled.ravel().numpy(), minlength=3) / sampled.numel()
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.1], atol=0.015)
    impossible = torch.tensor([[[0.0, -float("inf"), 1.0, -float("inf")]]]).expand(2, 5000, 4)
    drawn = sample_targets(impossible, torch.Generator().manual_seed(1))
    assert set(drawn.unique().tolist()) == {0, 2}


def test_embedding_is_reproducible_and_fresh_per_batch():
    ids, mask = tiny_batch()
    settings = Settings(epochs=2, minibatch_size=4)
    probe = tiny_model(dropout=0.1)
    a = embed(copy.deepcopy(probe), ids, mask, settings, 3, EOS)
    b = embed(copy.deepcopy(probe), ids, mask, settings, 3, EOS)
    c = embed(copy.deepcopy(probe), ids, mask, settings, 4, EOS)  # seed 42 + 4
    np.testing.assert_array_equal(a.vector, b.vector)
    assert not np.array_equal(a.vector, c.vector)
    assert a.vector.dtype == np.float32 and (a.vector >= 0).all()
    assert len(a.vector) == sum(w.shape[0] for _, w in embedded_weights(probe))
    assert len(a.epoch_losses) == 2


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_engine_equals_the_straightforward_baseline(dropout):
    """Fine-tuning and Fisher as the authors wrote them (HF ``labels=`` loss, every gradient,
    benchmarks/baseline.py) give the engine's embedding, on the same given targets (the
    dropout masks are drawn in the same order from the same seed)."""
    probe = tiny_model(dropout=dropout)
    ids, mask = tiny_batch(n=8)
    targets = torch.randint(0, 12, ids.shape, generator=torch.Generator().manual_seed(5))
    settings = Settings(epochs=3, lr=1e-2, minibatch_size=4)
    fast = embed(copy.deepcopy(probe), ids, mask, settings, 2, EOS, targets=targets).vector
    slow, _, _ = baseline.baseline_embed(probe, ids, mask, settings, 2, EOS, targets=targets)
    untuned = embed(copy.deepcopy(probe), ids, mask, Settings(epochs=0), 2, EOS, targets=targets).vector
    assert not np.allclose(fast, untuned, rtol=1e-2)  # fine-tuning mattered
    np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-12)


def test_reference_mode_diversity_agrees_with_the_baseline_within_the_bootstrap_interval():
    """Dropout on and targets sampled by each implementation's own random stream: the embeddings
    differ, but the diversity coefficient of the same batches must agree within the interval."""
    from task2vec_diversity.coefficients import coefficient
    from task2vec_diversity.distance import distance_matrix

    probe = tiny_model(dropout=0.1)
    settings = Settings(epochs=2, lr=1e-2, minibatch_size=4)
    batches = [tiny_batch(n=8, seed=s) for s in range(12)]
    fast = [embed(copy.deepcopy(probe), ids, mask, settings, i, EOS).vector for i, (ids, mask) in enumerate(batches)]
    slow = [baseline.baseline_embed(probe, ids, mask, settings, i, EOS)[0] for i, (ids, mask) in enumerate(batches)]
    ours = coefficient(distance_matrix(np.stack(fast)), replicates=500)
    theirs = coefficient(distance_matrix(np.stack(slow)), replicates=500)
    assert not np.allclose(fast[0], slow[0], rtol=1e-3)  # different random streams
    assert theirs.ci95_low <= ours.value <= theirs.ci95_high
    assert ours.ci95_low <= theirs.value <= ours.ci95_high
