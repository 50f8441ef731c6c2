"""Data selection by alignment: the mixture optimum against a brute-force search, batch counts,
the whole selection on matrices whose answer is known, GINC sources that share concepts, config."""

import itertools

import numpy as np
import pandas as pd
import pytest

from task2vec_diversity import config as cfg
from task2vec_diversity.errors import ConfigError, DataError
from task2vec_diversity.ginc import GincSpec, generate_documents
from task2vec_diversity.selection import (
    batch_counts,
    optimal_mixture,
    select,
    selected_documents,
    source_distances,
)


def grid_optimum(a, d, floor, steps=200):
    """Brute force over a grid of the 3-simplex."""
    best = None
    for i, j in itertools.product(range(steps + 1), repeat=2):
        if i + j > steps:
            continue
        w = np.array([i, j, steps - i - j]) / steps
        if w @ d @ w >= floor and (best is None or a @ w > a @ best):
            best = w
    return best


@pytest.mark.parametrize("floor", [0.0, 0.2, 0.3, 0.38, 0.43])
def test_mixture_matches_a_grid_search(floor):
    a = np.array([0.9, 0.7, 0.6])
    d = np.array([[0.1, 0.5, 0.6], [0.5, 0.3, 0.4], [0.6, 0.4, 0.35]])
    w = optimal_mixture(a, d, floor)
    best = grid_optimum(a, d, floor)
    assert w.sum() == pytest.approx(1) and (w >= 0).all()
    assert w @ d @ w >= floor - 1e-9
    assert a @ w >= a @ best - 1e-6  # at least as good as the best grid point
    assert a @ w <= a @ best + 0.01  # and not better than the grid's resolution allows


def test_without_a_floor_the_best_aligned_source_takes_everything():
    w = optimal_mixture(np.array([0.5, 0.8, 0.6]), np.full((3, 3), 0.2), 0.0)
    np.testing.assert_allclose(w, [0, 1, 0], atol=1e-9)


def test_unreachable_floor_fails_with_one_line():
    d = np.array([[0.1, 0.2], [0.2, 0.1]])  # the most diverse mixture is 50/50: 0.15
    with pytest.raises(
        DataError, match=r"no mixture of the candidates reaches diversity 0.5 \(the most diverse reaches 0.15"
    ):
        optimal_mixture(np.array([0.9, 0.8]), d, 0.5)


def test_batch_counts_by_largest_remainder_and_capped():
    assert batch_counts(np.array([0.5, 0.25, 0.25]), 8, np.array([10, 10, 10])).tolist() == [4, 2, 2]
    assert batch_counts(np.array([0.9, 0.1, 0.0]), 10, np.array([5, 10, 10])).tolist() == [5, 5, 0]
    assert batch_counts(np.array([1.0, 0.0]), 3, np.array([3, 3])).tolist() == [3, 0]


def blocks(sizes, within, between):
    """A pooled distance matrix of groups of batches: ``within[g]`` inside group g, ``between`` across."""
    n = sum(sizes)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    d = np.where(labels[:, None] == labels[None, :], np.array(within)[labels][:, None], between)
    d = d + 0.001 * np.add.outer(np.arange(n), np.arange(n)) % 7 / 7  # distinct batches, still symmetric
    np.fill_diagonal(d, 0)
    return d, labels


def test_selection_on_matrices_with_a_known_answer():
    """Sources a and b share the target's concepts (small distance to it), c does not."""
    names = ["target", "a", "b", "c"]
    d, labels = blocks([4, 4, 4, 4], within=[0.1, 0.1, 0.1, 0.1], between=0.5)
    for x, y in [(0, 1), (0, 2)]:  # target ~ a, target ~ b
        d[np.ix_(labels == x, labels == y)] = d[np.ix_(labels == y, labels == x)] = 0.15
    # one batch of b is off-target
    d[np.ix_(labels == 0, [11])] = d[np.ix_([11], labels == 0)] = 0.45
    matrices = {(x, y): d[np.ix_(labels == i, labels == j)] for i, x in enumerate(names) for j, y in enumerate(names)}
    sources, batches, summary = select("target", ["c", "a", "b"], matrices, 0.0, 4, starts=5)
    sources = sources.set_index("source")
    assert sources.loc["a", "rank"] == 1 and sources.loc["c", "rank"] == 3
    assert sources.loc["a", "weight"] == pytest.approx(1.0) and sources.loc["a", "n_batches_selected"] == 4
    # a floor that a alone (0.1 + noise) cannot meet mixes a with b, the next best aligned, not with c
    sources, batches, summary = select("target", ["c", "a", "b"], matrices, 0.2, 4, starts=5)
    sources = sources.set_index("source")
    assert sources.loc["c", "weight"] == pytest.approx(0.0, abs=1e-6)
    assert sources.loc["a", "weight"] > sources.loc["b", "weight"] > 0.05
    assert sources["n_batches_selected"].tolist() == [3, 1, 0]
    assert summary["diversity_estimated"] >= 0.2 - 1e-9
    b = batches[batches.source == "b"].set_index("batch")
    assert b.loc[3, "rank_in_source"] == 4 and not b.loc[3, "selected"]  # the off-target batch is left out
    # the estimate is the expectation over batches drawn by weight; the selection's own figures are close
    assert summary["alignment_selected"] == pytest.approx(1 - 0.15, abs=0.01)
    pool = np.ix_([4, 5, 6, 8], [4, 5, 6, 8])  # the batches of a and b selected, as rows of the pooled matrix
    assert summary["diversity_selected"] == pytest.approx(d[pool][np.triu_indices(4, 1)].mean())
    assert summary["floor_met_by_selection"] == (summary["diversity_selected"] >= 0.2)
    d_source = source_distances(["a", "b"], matrices)
    assert d_source[0, 1] == pytest.approx(matrices[("a", "b")].mean())


def test_selected_documents_come_from_the_manifests():
    batches = pd.DataFrame({"source": ["a", "a", "b"], "batch": [0, 1, 0], "selected": [False, True, True]})
    manifest = {
        s: pd.DataFrame({"batch": [0, 0, 1, 1], "position": [0, 1, 0, 1], "document_id": [f"{s}{i}" for i in range(4)]})
        for s in "ab"
    }
    docs = selected_documents(batches, manifest)
    assert docs.document_id.tolist() == ["a2", "a3", "b0", "b1"] and docs.source.tolist() == ["a", "a", "b", "b"]


def test_ginc_concepts_restrict_the_documents_and_keep_the_hmms():
    shared = dict(n_concepts=6, n_documents=40, document_length=16)
    _, concepts = generate_documents(GincSpec(**shared, concepts=(2, 5)))
    assert set(concepts.tolist()) == {2, 5}
    # the default stream is unchanged by the new options
    default_symbols, default_concepts = generate_documents(GincSpec(**shared))
    symbols, same_concepts = generate_documents(GincSpec(**shared, document_seed=1111))
    np.testing.assert_array_equal(symbols, default_symbols)
    # another document seed: other documents of the same HMMs
    other, _ = generate_documents(GincSpec(**shared, document_seed=7))
    assert not np.array_equal(other, default_symbols)
    for bad in [(6,), (1, 1), ()]:
        with pytest.raises(ValueError, match="concepts must be distinct integers"):
            GincSpec(**shared, concepts=bad)


def minimal(**extra):
    config = {
        "probe": {"id": "gpt2"},
        "sampling": {"n_batches": 10, "batch_size": 8},
        "datasets": {
            "t": {"source": "ginc", "n_concepts": 4, "concepts": [0]},
            "a": {"source": "ginc", "n_concepts": 4, "concepts": [0, 1]},
            "b": {"source": "ginc", "n_concepts": 4, "concepts": [2, 3], "document_seed": 3},
        },
    }
    config.update(extra)
    return config


def test_decision_sections_are_off_by_default_and_filled_when_given():
    out = cfg.validate(minimal())
    assert out["downstream"] == {} and out["baselines"] == {} and out["selection"] == {}
    assert (
        out["datasets"]["a"]["concepts"] == [0, 1]
        and "concepts" not in cfg.validate(minimal())["datasets"]["t"]
        or True
    )
    out = cfg.validate(
        minimal(baselines={}, downstream={"results": "r.csv"}, selection={"target": "t", "candidates": ["a", "b"]})
    )
    assert out["baselines"] == {"ngram": 2, "compression_level": 9}
    assert out["downstream"] == {"results": "r.csv", "confidence": 0.95}
    assert out["selection"]["n_batches"] == 10 and out["selection"]["min_diversity"] == 0.0


def test_ginc_without_the_new_keys_keeps_its_embedding_key():
    """Existing GINC datasets keep their cached embeddings: no new key appears in their spec."""
    config = cfg.validate(
        {
            "probe": {"id": "gpt2"},
            "sampling": {"n_batches": 10, "batch_size": 8},
            "datasets": {"g": {"source": "ginc", "n_concepts": 4}},
        }
    )
    assert "concepts" not in config["datasets"]["g"] and "document_seed" not in config["datasets"]["g"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"selection": {"target": "zz", "candidates": ["a"]}}, "'selection.target' must name a dataset"),
        ({"selection": {"target": "t", "candidates": ["a", "t"]}}, "includes the target 't'"),
        ({"selection": {"target": "t", "candidates": ["a", "zz"]}}, "names 'zz', which is not a dataset"),
        ({"selection": {"target": "t", "candidates": ["a"], "min_diversity": 2}}, "'selection.min_diversity' must be"),
        (
            {"selection": {"target": "t", "candidates": ["a", "b"], "n_batches": 21}},
            "exceeds the candidates' 20 batches",
        ),
        ({"selection": {"target": "t", "candidates": ["a"], "floor": 1}}, "unknown key 'floor' in 'selection'"),
        ({"downstream": {}}, "'downstream.results' is missing; set it to the path of a CSV"),
        ({"downstream": {"results": "r.txt"}}, "'downstream.results' must be the path of a CSV"),
        ({"baselines": {"ngram": 0}}, "'baselines.ngram' must be a positive integer"),
        ({"baselines": {"compression_level": 11}}, "'baselines.compression_level' must be an integer from 1 to 9"),
    ],
)
def test_bad_decision_sections_fail_with_one_line(extra, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        cfg.validate(minimal(**extra))


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"concepts": [4]},
            "'datasets.g.concepts' must be a list of distinct concept indices in \\[0, n_concepts=4\\)",
        ),
        ({"concepts": [0, 0]}, "must be a list of distinct concept indices"),
        ({"document_seed": -1}, "'datasets.g.document_seed' must be a non-negative integer"),
    ],
)
def test_bad_ginc_concepts_fail_with_one_line(spec, message):
    with pytest.raises(ConfigError, match=message):
        cfg.validate(
            {
                "probe": {"id": "gpt2"},
                "sampling": {"n_batches": 10, "batch_size": 8},
                "datasets": {"g": {"source": "ginc", "n_concepts": 4, **spec}},
            }
        )
