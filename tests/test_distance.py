"""The vectorised distance matrix against the formula, and the coefficient against hand values."""

import numpy as np
import pytest
import torch
from scipy import stats

from task2vec_diversity.coefficients import bootstrap_means, coefficient, paper_half_width
from task2vec_diversity.distance import cosine_distance, distance_matrix, upper_triangle


def direct(h_a, h_b, eps=1e-8):
    u = [a / (a + b + eps) for a, b in zip(h_a, h_b)]
    v = [b / (a + b + eps) for a, b in zip(h_a, h_b)]
    dot = sum(x * y for x, y in zip(u, v))
    return 1 - dot / (sum(x * x for x in u) ** 0.5 * sum(y * y for y in v) ** 0.5)


def test_distance_by_hand():
    # u = (1/3, 1/2), v = (2/3, 1/2) up to the 1e-8: 1 - (2/9 + 1/4) / (sqrt(13/36) * sqrt(25/36))
    expected = 1 - (2 / 9 + 1 / 4) / (np.sqrt(13 / 36) * np.sqrt(25 / 36))
    assert cosine_distance([1.0, 1.0], [2.0, 1.0]) == pytest.approx(expected, abs=1e-7)


def test_epsilon_matters_for_small_fisher_values():
    a, b = np.array([1e-9, 3e-9]), np.array([2e-9, 1e-9])
    assert cosine_distance(a, b) == pytest.approx(direct(a, b), rel=1e-12)
    assert abs(cosine_distance(a, b) - cosine_distance(a, b, eps=0.0)) > 1e-3


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-12), (torch.float32, 1e-6)])
@pytest.mark.parametrize("block_bytes", [8 * 50 * 2, 2**20])  # tiles of 1 x 2 pairs, and all pairs at once
def test_matrix_equals_direct_formula_blockwise(dtype, tolerance, block_bytes):
    rng = np.random.default_rng(0)
    h = rng.gamma(0.5, 1e-8, size=(7, 50))
    h[3] = h[1]  # duplicate batch
    m = distance_matrix(h, block_bytes=block_bytes, dtype=dtype, device="cpu")
    for i in range(7):
        for j in range(7):
            assert m[i, j] == pytest.approx(direct(h[i], h[j]) if i != j else 0.0, abs=tolerance)
    assert abs(m[1, 3]) < tolerance
    np.testing.assert_array_equal(m, m.T)


def test_dimension_chunks_add_up(monkeypatch):
    """Sums over several chunks of dimensions, accumulated in float64, equal one chunk."""
    rng = np.random.default_rng(5)
    h = rng.gamma(0.5, 1e-6, size=(5, 1000))
    whole = distance_matrix(h, dtype=torch.float64, device="cpu")
    monkeypatch.setattr("task2vec_diversity.distance.CHUNK", 64)
    np.testing.assert_allclose(distance_matrix(h, dtype=torch.float64, device="cpu"), whole, atol=1e-13)


def test_cross_matrix():
    rng = np.random.default_rng(1)
    a, b = rng.random((3, 20)), rng.random((4, 20))
    m = distance_matrix(a, b, block_bytes=8 * 20, dtype=torch.float64)
    assert m.shape == (3, 4)
    assert m[2, 1] == pytest.approx(direct(a[2], b[1]), abs=1e-12)


def test_coefficient_by_hand():
    d = np.array([[0, 0.1, 0.2], [0.1, 0, 0.3], [0.2, 0.3, 0]])
    c = coefficient(d, replicates=500, seed=0)
    assert c.value == pytest.approx(0.2)
    assert c.n_pairs == 3
    assert c.std == pytest.approx(0.1)
    assert c.ci95_paper == pytest.approx(4.302652729911275 * 0.1 / np.sqrt(3))
    assert c.ci95_low <= c.value <= c.ci95_high


def test_exact_zero_distances_are_kept():
    d = np.zeros((3, 3))
    d[0, 1] = d[1, 0] = 0.3  # batches 1 and 2 identical: d(1, 2) = 0, d(0, 2) = 0.3
    d[0, 2] = d[2, 0] = 0.3
    assert coefficient(d, replicates=10).value == pytest.approx(0.2)
    assert list(upper_triangle(d)) == [0.3, 0.3, 0.0]


def test_paper_half_width_matches_scipy():
    x = np.random.default_rng(2).random(40)
    low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert paper_half_width(x) == pytest.approx((high - low) / 2)


def test_bootstrap_means_against_explicit_pairs():
    rng = np.random.default_rng(3)
    x = rng.random((5, 5))
    d = (x + x.T) / 2
    np.fill_diagonal(d, 0)
    means = bootstrap_means(d, replicates=20, seed=7, square=True)
    draws = np.random.default_rng(7).multinomial(5, np.full(5, 0.2), size=20)
    for r, counts in enumerate(draws):
        picked = np.repeat(np.arange(5), counts)
        pairs = [d[a, b] for i, a in enumerate(picked) for b in picked[i + 1 :] if a != b]
        assert means[r] == pytest.approx(np.mean(pairs) if pairs else np.nan, nan_ok=True)


def test_bootstrap_interval_is_wider_than_paper_interval():
    """Pairs share batches, so the paper's t-interval over pairs is too narrow."""
    rng = np.random.default_rng(4)
    effects = rng.normal(0, 0.05, 30)
    d = 0.3 + (effects[:, None] + effects[None, :]) + rng.normal(0, 0.01, (30, 30))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0)
    c = coefficient(d, replicates=2000, seed=0)
    assert c.ci95 > 2 * c.ci95_paper


def test_pool_bootstrap_against_explicit_pairs():
    """A pool's replicate, by hand: each dataset's batches drawn on their own, each block's mean
    over its pairs (a dataset's own: pairs of two copies of one batch left out), the blocks
    weighed by their pairs in the pool (2 x 1 own pairs, 3 x 2 cross pairs)."""
    rng = np.random.default_rng(5)
    x = rng.random((5, 5))
    d = (x + x.T) / 2
    np.fill_diagonal(d, 0)
    means = bootstrap_means(d, replicates=30, seed=11, square=True, groups=[3, 2])
    draws = np.random.default_rng(11)
    first, second = draws.multinomial(3, np.full(3, 1 / 3), size=30), draws.multinomial(2, np.full(2, 1 / 2), size=30)
    for r in range(30):
        a, b = np.repeat(np.arange(3), first[r]), 3 + np.repeat(np.arange(2), second[r])

        def own(picked):
            pairs = [d[i, j] for n, i in enumerate(picked) for j in picked[n + 1 :] if i != j]
            return np.mean(pairs) if pairs else np.nan

        cross = np.mean([d[i, j] for i in a for j in b])
        expected = (3 * own(a) + 1 * own(b) + 6 * cross) / 10
        assert means[r] == pytest.approx(expected, nan_ok=True)


def _coverage(sizes, simulations=300, replicates=500):
    """How often the 95% bootstrap interval holds the true mean, over synthetic pools (one size:
    datasets) with a known mean: d_ij = c(dataset of i, dataset of j) + a_i + a_j + e_ij, batch
    effects a ~ N(0, 0.01^2), pair noise e ~ N(0, 0.02^2), c = 0.3 within a dataset and 0.6
    across (a pool mixes close pairs with far ones, as real pools do). The pool's true value is
    the mean of c over its pairs."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(sizes)), sizes)
    mean = np.where(labels[:, None] == labels[None, :], 0.3, 0.6)
    n = len(labels)
    truth = mean[np.triu_indices(n, 1)].mean()
    covered = 0
    for s in range(simulations):
        a, e = rng.normal(0, 0.01, n), np.triu(rng.normal(0, 0.02, (n, n)), 1)
        d = mean + a[:, None] + a[None, :] + e + e.T
        np.fill_diagonal(d, 0)
        c = coefficient(d, replicates=replicates, seed=s, groups=None if len(sizes) == 1 else sizes)
        covered += c.ci95_low <= truth <= c.ci95_high
    return covered / simulations


def test_bootstrap_interval_covers_the_true_mean_of_datasets_and_pools():
    """About 95% coverage (a percentile bootstrap of 10-20 batches a dataset runs a little
    under); the pool's earlier resampling, which dropped a dataset's copied-batch pairs but kept
    every cross pair, underweighted the close pairs and covered 64% here."""
    assert 0.88 <= _coverage([20]) <= 0.99
    assert 0.88 <= _coverage([10, 10, 10, 10]) <= 0.99
