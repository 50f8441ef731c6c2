"""The noise floor, the decomposition of the distance by module and the activation baseline,
each against an independent computation on a tiny probe or a hand-made example."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from task2vec_diversity.activations import cosine_distances, mean_hidden_states
from task2vec_diversity.decomposition import (
    GROUPS,
    decompose,
    group_index,
    group_regime,
    layout,
    regime,
    token_presence,
)
from task2vec_diversity.distance import cosine_distance, distance_matrix
from task2vec_diversity.noise import noise_columns, noise_distances, pair_distance, repeat_seed
from task2vec_diversity.task2vec import Settings, embed

EOS = 0


def tiny_model(dropout=0.1, seed=0):
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=12, n_positions=10, n_embd=8, n_layer=2, n_head=2, resid_pdrop=dropout, embd_pdrop=dropout
    )
    return GPT2LMHeadModel(config)


def tiny_batch(n=4, length=10, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 8, (n, length), generator=g)  # tokens 8 to 11 occur in no batch
    mask = torch.ones_like(ids)
    ids[0, 6:] = EOS
    mask[0, 6:] = 0
    return ids, mask


SETTINGS = Settings(epochs=1, minibatch_size=2)


def embeddings_of_one_batch(seeds):
    model, (ids, mask) = tiny_model(), tiny_batch()
    out = []
    for seed in seeds:
        settings = dataclasses.replace(SETTINGS, seed=seed)
        out.append(embed(copy.deepcopy(model), ids, mask, settings, 0, EOS).vector)
    return np.stack(out)


def test_same_seed_reembeddings_have_a_noise_floor_of_exactly_zero():
    same = embeddings_of_one_batch([42, 42, 42])
    assert noise_distances(same[None]).tolist() == [[0.0, 0.0, 0.0]]
    other = embeddings_of_one_batch([42, repeat_seed(42, 1)])
    assert not np.array_equal(other[0], other[1])
    assert noise_distances(other[None])[0, 0] > 0


def test_pair_distance_is_the_task2vec_distance():
    rng = np.random.default_rng(0)
    a, b = rng.exponential(1e-8, 300), rng.exponential(1e-8, 300)
    assert pair_distance(a, b) == pytest.approx(cosine_distance(a, b), abs=1e-12)
    assert pair_distance(a, a) == 0.0


def test_noise_columns_by_hand():
    matrix = np.array([[0, 0.3, 0.5], [0.3, 0, 0.4], [0.5, 0.4, 0]])
    floors = np.array([[0.1, 0.2, 0.3], [0.3, 0.3, 0.3]])
    row = noise_columns(floors, matrix, replicates=500, seed=0)
    assert row["noise_floor"] == pytest.approx(0.25)
    assert row["diversity_above_noise"] == pytest.approx(0.4 - 0.25)
    assert row["noise_share"] == pytest.approx(0.25 / 0.4)
    assert 0.2 <= row["noise_floor_ci95_low"] <= 0.25 <= row["noise_floor_ci95_high"] <= 0.3
    assert row["diversity_above_noise_ci95_low"] <= 0.15 <= row["diversity_above_noise_ci95_high"]
    assert row["n_noise_batches"] == 2 and row["n_noise_distances"] == 6


def test_layout_follows_the_embedding_and_names_gpt2_modules():
    model = tiny_model()
    blocks = layout(model)
    groups = {name: group for name, group, _ in blocks}
    assert groups["transformer.wte"] == "token" and groups["transformer.wpe"] == "position"
    assert groups["transformer.h.0.ln_1"] == groups["transformer.ln_f"] == "layer_norm"
    assert groups["transformer.h.1.attn.c_attn"] == groups["transformer.h.1.attn.c_proj"] == "attention"
    assert groups["transformer.h.0.mlp.c_fc"] == groups["transformer.h.0.mlp.c_proj"] == "mlp"
    ids, mask = tiny_batch()
    vector = embed(copy.deepcopy(model), ids, mask, SETTINGS, 0, EOS).vector
    assert sum(size for *_, size in blocks) == len(vector) == 12 + 10 + 2 * (8 + 8 + 8 + 8 + 8 + 32) + 8


def test_decomposition_adds_up_to_the_distance_and_splits_the_token_rows():
    blocks = [("wte", "token", 6), ("wpe", "position", 3), ("ln", "layer_norm", 2), ("attn", "attention", 4)]
    rng = np.random.default_rng(1)
    vectors = rng.exponential(1e-8, (4, 15)) * rng.integers(0, 2, (4, 15))  # zeros too
    ids = np.array([[[0, 1, 1, 5]], [[1, 2, 2, 2]], [[3, 3, 3, 3]], [[0, 1, 2, 3]]])
    mask = np.array([[[1, 1, 1, 0]], [[1, 1, 1, 1]], [[1, 1, 1, 1]], [[1, 1, 1, 1]]])  # token 5 is padding
    present = token_presence(ids, mask, 6)
    assert present[0].tolist() == [True, True, False, False, False, False]
    parts, direct = decompose(vectors, blocks, present)
    matrix = distance_matrix(vectors, dtype=torch.float64)
    pairs = [(i, j) for i in range(4) for j in range(i + 1, 4)]
    by_formula = [cosine_distance(vectors[i], vectors[j]) for i, j in pairs]
    np.testing.assert_allclose(parts.sum(axis=1), by_formula, atol=1e-12)
    np.testing.assert_allclose(direct, [matrix[i, j] for i, j in pairs], atol=1e-12)
    # pair (0, 1): tokens {0, 1} and {1, 2}: both {1}, one {0, 2}, neither {3, 4, 5}
    from task2vec_diversity.noise import unit_pair

    big_u, big_v = unit_pair(vectors[0], vectors[1])
    terms = 0.5 * (big_u - big_v) ** 2
    expected = [terms[1], terms[0] + terms[2], terms[3:6].sum(), terms[6:9].sum(), terms[9:11].sum(), terms[11:].sum()]
    got = parts[0, [GROUPS.index(g) for g in ("token_both", "token_one", "token_neither")]].tolist()
    got += parts[0, [GROUPS.index(g) for g in ("position", "layer_norm", "attention")]].tolist()
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert parts[:, GROUPS.index("mlp")].tolist() == [0.0] * 6


def test_regime_shares_by_hand():
    vectors = np.array([[2e-8, 0.0, 5e-9, 1e-7], [0.0, 0.0, 0.0, 3e-8]])
    shares = regime(vectors)
    assert shares["fisher_coordinates_above_eps"] == pytest.approx(3 / 8)
    assert shares["fisher_mass_above_eps"] == pytest.approx(1.5e-7 / 1.55e-7)
    blocks = [("wte", "token", 2), ("ln", "layer_norm", 2)]
    stats = group_regime(vectors, blocks)
    assert stats["token"]["coordinates_above_eps"] == pytest.approx(1 / 4)
    assert stats["layer_norm"]["mass_above_eps"] == pytest.approx(1.3e-7 / 1.35e-7)
    assert group_index(blocks)[1] == slice(0, 2)


def test_activation_baseline_against_a_hand_computation():
    model = tiny_model(dropout=0.1)
    ids, mask = tiny_batch(n=3, seed=2)
    got = mean_hidden_states(model, ids, mask, minibatch_size=2)
    model.eval()
    with torch.no_grad():
        vectors = []
        for s in range(3):  # one sequence at a time, its real tokens only, through the transformer
            n = int(mask[s].sum())
            vectors.extend(model.transformer(input_ids=ids[s : s + 1, :n]).last_hidden_state[0].double())
    np.testing.assert_allclose(got, torch.stack(vectors).mean(dim=0).numpy(), rtol=1e-5, atol=1e-6)
    a, b, c = np.array([1.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 2.0])
    matrix = cosine_distances(np.stack([a, b, c]))
    assert matrix[0, 1] == pytest.approx(1 - 1 / np.sqrt(2)) and matrix[0, 2] == pytest.approx(1.0)
    assert matrix[1, 1] == 0.0
