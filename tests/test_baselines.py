"""Baselines on the same batches: Vendi score, distinct n-grams, compression, rank agreement."""

import zlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from task2vec_diversity.baselines import (
    baseline_row,
    compression_ratio,
    distinct_ngram_ratio,
    lexical_measures,
    rank_agreement,
    real_tokens,
    token_bytes,
    vendi_score,
)


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_vendi_identical_items_count_once_and_orthogonal_items_count_n(n):
    assert vendi_score(np.ones((n, n)))[0] == pytest.approx(1.0)
    assert vendi_score(np.eye(n))[0] == pytest.approx(n)


def test_vendi_of_two_groups_and_of_a_hand_worked_matrix():
    # two groups of 3 identical items, groups orthogonal: two effective items
    block = np.kron(np.eye(2), np.ones((3, 3)))
    assert vendi_score(block)[0] == pytest.approx(2.0)
    # K = [[1, s], [s, 1]]: eigenvalues of K/2 are (1 +- s) / 2
    s = 0.6
    p = np.array([(1 + s) / 2, (1 - s) / 2])
    assert vendi_score(np.array([[1, s], [s, 1]]))[0] == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_vendi_matches_the_entropy_of_a_gram_matrix_computed_by_svd():
    """Independent route: the eigenvalues of X X^T / n are the squared singular values of X / sqrt(n)."""
    x = np.random.default_rng(0).normal(size=(12, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = np.linalg.svd(x / np.sqrt(len(x)), compute_uv=False) ** 2
    assert vendi_score(x @ x.T)[0] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-10)


def test_vendi_agrees_with_the_vendi_score_package_when_installed():
    vendi = pytest.importorskip("vendi_score.vendi")
    x = np.abs(np.random.default_rng(1).normal(size=(9, 4)))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    k = x @ x.T
    assert vendi_score(k)[0] == pytest.approx(vendi.score_K(k), rel=1e-10)


def test_vendi_leaves_negative_eigenvalues_out_and_reports_the_smallest():
    k = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 1.0]])  # not positive semi-definite
    score, smallest = vendi_score(k)
    w = np.linalg.eigvalsh(k / 3)
    assert smallest == pytest.approx(w.min()) and smallest < 0
    assert score == pytest.approx(np.exp(-sum(x * np.log(x) for x in w if x > 0)))
    with pytest.raises(ValueError, match="symmetric"):
        vendi_score(np.array([[1.0, 0.2], [0.3, 1.0]]))


def test_distinct_ngrams_by_hand_and_not_across_sequences():
    seqs = [np.array([1, 2, 1, 2]), np.array([2, 1])]
    # bigrams: (1,2) (2,1) (1,2) | (2,1): 2 distinct of 4
    assert distinct_ngram_ratio(seqs, 2) == pytest.approx(2 / 4)
    assert distinct_ngram_ratio(seqs, 1) == pytest.approx(2 / 6)
    assert distinct_ngram_ratio(seqs, 3) == pytest.approx(2 / 2)
    assert np.isnan(distinct_ngram_ratio([np.array([1])], 2))


def test_padding_is_left_out():
    ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0]])
    mask = np.array([[1, 1, 0, 0], [1, 0, 0, 0]])
    assert [s.tolist() for s in real_tokens(ids, mask)] == [[5, 6], [7]]
    measures = lexical_measures(ids[None], mask[None], vocab_size=300, ngram=1, level=9)
    assert measures["distinct_ngrams"][0] == pytest.approx(1.0)
    raw = np.array([5, 6, 7], dtype="<u2").tobytes()
    assert measures["compression_ratio"][0] == pytest.approx(len(zlib.compress(raw, 9)) / len(raw))


def test_token_width_follows_the_vocabulary():
    seqs = [np.array([1, 2, 3])]
    assert len(token_bytes(seqs, 256)) == 3
    assert len(token_bytes(seqs, 50257)) == 6
    assert len(token_bytes(seqs, 100_000)) == 12


def test_compression_ratio_orders_repetitive_below_random():
    rng = np.random.default_rng(0)
    repetitive = [np.full(128, 7) for _ in range(16)]
    uniform = [rng.integers(0, 50257, 128) for _ in range(16)]
    assert compression_ratio(repetitive, 50257) < 0.05 < 0.9 < compression_ratio(uniform, 50257)
    assert distinct_ngram_ratio(repetitive, 2) < 0.01 < 0.99 < distinct_ngram_ratio(uniform, 2)


def test_rank_agreement_against_scipy_and_by_hand():
    table = pd.DataFrame(
        {"t2v": [0.1, 0.2, 0.3, 0.4], "same": [1, 2, 3, 4], "reverse": [4, 3, 2, 1], "x": [1, 3, 2, 4]}
    )
    rows = {r["baseline"]: r for r in rank_agreement(table, "t2v", ["same", "reverse", "x"])}
    assert rows["same"]["spearman"] == pytest.approx(1) and rows["same"]["kendall"] == pytest.approx(1)
    assert rows["reverse"]["spearman"] == pytest.approx(-1) and rows["reverse"]["kendall"] == pytest.approx(-1)
    # one swapped pair of 6: tau = (5 - 1) / 6; rho = 1 - 6 * 2 / (4 * 15)
    assert rows["x"]["kendall"] == pytest.approx(4 / 6) and rows["x"]["spearman"] == pytest.approx(0.8)
    # exact p values, by hand: of the 24 orderings of 4, the identity and the 3 adjacent swaps
    # have rho >= 0.8 and tau >= 4/6 (and as many <= -0.8): p = 8 / 24; the same order: 2 / 24
    assert rows["x"]["spearman_p"] == pytest.approx(1 / 3) and rows["x"]["kendall_p"] == pytest.approx(1 / 3)
    assert rows["same"]["spearman_p"] == pytest.approx(1 / 12) and rows["same"]["kendall_p"] == pytest.approx(1 / 12)
    assert rows["x"]["spearman_p_method"] == rows["x"]["kendall_p_method"] == "exact"
    five = pd.DataFrame({"t2v": [0.1, 0.2, 0.3, 0.4, 0.5], "same": [1, 2, 3, 4, 5]})
    row = rank_agreement(five, "t2v", ["same"])[0]
    assert row["spearman_p"] == pytest.approx(2 / 120) and row["kendall_p"] == pytest.approx(2 / 120)
    many = pd.DataFrame({"t2v": np.arange(12.0), "same": np.arange(12.0)})
    row = rank_agreement(many, "t2v", ["same"])[0]
    assert row["spearman_p_method"] == "t approximation"
    assert row["spearman_p"] == stats.spearmanr(range(12), range(12)).pvalue
    short = rank_agreement(table.head(2), "t2v", ["same"])[0]
    assert short["n_datasets"] == 2 and np.isnan(short["spearman"])


def test_baseline_row_uses_one_minus_distance_as_similarity():
    d = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])  # all batches orthogonal
    lexical = {"distinct_ngrams": np.array([0.5, 0.7, 0.9]), "compression_ratio": np.array([0.2, 0.2, 0.2])}
    row = baseline_row("d", d, lexical, batch_size=4, diversity=1.0)
    assert row["vendi"] == pytest.approx(3) and row["vendi_per_batch"] == pytest.approx(1)
    assert row["distinct_ngrams"] == pytest.approx(0.7) and row["distinct_ngrams_std"] == pytest.approx(0.2)
