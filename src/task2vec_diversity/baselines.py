"""Baselines computed on the very same batches as the Task2Vec diversity coefficient.

- **Vendi score** (Friedman & Dieng 2023): exp of the Shannon entropy of the eigenvalues of
  K / n, K = similarity matrix of n items with K[i, i] = 1; the "effective number" of distinct
  items, from 1 (all identical) to n (all orthogonal). Here the items are a dataset's batches and
  K = 1 - Task2Vec distance of their embeddings. The Task2Vec distance normalises per pair, so K
  need not be positive semi-definite: negative eigenvalues are left out of the entropy (as the
  ``vendi-score`` package does, 0 log 0 = 0) and the smallest is reported beside the score.
  Written here rather than taken from ``vendi-score`` 0.0.3 (its last release), which pulls in
  scikit-learn for a row normalisation and calls the ``scipy.sparse.csr`` namespace that SciPy
  deprecates (removed in SciPy 2.0).
- **Distinct n-gram ratio** of a batch: distinct n-grams / all n-grams of its real (unpadded)
  tokens, n-grams within one sequence; mean over the dataset's batches.
- **Compression ratio** of a batch: zlib-compressed size / raw size of its real tokens, each
  token id written as a little-endian unsigned integer of the fewest bytes that hold the
  vocabulary (2 for GPT-2), sequences concatenated in batch order; mean over the batches. Lower
  means more redundant text. Widths are the same for every dataset of one probe, so the ratios
  are comparable across datasets of one run.
- **Activation baseline** (activations.py): the mean pairwise cosine distance of the probe's
  mean last hidden state of each batch (forward pass only, padding masked), with a bootstrap
  interval over batches.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import stats

BASELINE_COLUMNS = [
    "dataset",
    "n_batches",
    "batch_size",
    "task2vec_diversity",
    "vendi",
    "vendi_per_batch",
    "vendi_min_eigenvalue",
    "distinct_ngrams",
    "distinct_ngrams_std",
    "compression_ratio",
    "compression_ratio_std",
    "activation_diversity",
    "activation_ci95_low",
    "activation_ci95_high",
]
AGREEMENT_COLUMNS = [
    "baseline",
    "n_datasets",
    "spearman",
    "spearman_p",
    "spearman_p_method",
    "kendall",
    "kendall_p",
    "kendall_p_method",
]
# up to this many datasets Spearman's p value is exact (all n! orderings: 362,880 at 9, 1 s)
EXACT_SPEARMAN_MAX = 9
# and Kendall's (scipy's exact distribution, no ties; scipy's own limit for its "auto")
EXACT_KENDALL_MAX = 33


def vendi_score(similarity: np.ndarray) -> tuple[float, float]:
    """Vendi score of a symmetric similarity matrix with unit diagonal, and its smallest
    eigenvalue of K / n (negative when K is not positive semi-definite)."""
    k = np.asarray(similarity, dtype=np.float64)
    if k.ndim != 2 or k.shape[0] != k.shape[1] or not np.allclose(k, k.T):
        raise ValueError("the similarity matrix must be square and symmetric")
    eigenvalues = np.linalg.eigvalsh(k / k.shape[0])
    positive = eigenvalues[eigenvalues > 0]
    return float(np.exp(-(positive * np.log(positive)).sum())), float(eigenvalues.min())


def real_tokens(input_ids: np.ndarray, attention_mask: np.ndarray) -> list[np.ndarray]:
    """The unpadded tokens of every sequence of a batch."""
    return [ids[mask.astype(bool)] for ids, mask in zip(input_ids, attention_mask)]


def distinct_ngram_ratio(sequences: list[np.ndarray], n: int) -> float:
    """Distinct n-grams / all n-grams over the sequences (n-grams do not cross sequences)."""
    windows = [np.lib.stride_tricks.sliding_window_view(seq, n) for seq in sequences if len(seq) >= n]
    if not windows:
        return float("nan")
    grams = np.concatenate(windows)
    return len(np.unique(grams, axis=0)) / len(grams)


def token_bytes(sequences: list[np.ndarray], vocab_size: int) -> bytes:
    """The tokens as little-endian unsigned integers of the fewest bytes holding the vocabulary."""
    dtype = np.dtype("<u1" if vocab_size <= 2**8 else "<u2" if vocab_size <= 2**16 else "<u4")
    return b"".join(np.asarray(seq).astype(dtype).tobytes() for seq in sequences)


def compression_ratio(sequences: list[np.ndarray], vocab_size: int, level: int = 9) -> float:
    """zlib-compressed size / raw size of the sequences' token bytes."""
    raw = token_bytes(sequences, vocab_size)
    if not raw:
        return float("nan")
    return len(zlib.compress(raw, level)) / len(raw)


def lexical_measures(
    input_ids: np.ndarray, attention_mask: np.ndarray, vocab_size: int, ngram: int, level: int
) -> dict[str, np.ndarray]:
    """Distinct n-gram ratio and compression ratio of every batch ([batches, sequences, tokens])."""
    per_batch = [real_tokens(ids, mask) for ids, mask in zip(input_ids, attention_mask)]
    return {
        "distinct_ngrams": np.array([distinct_ngram_ratio(seqs, ngram) for seqs in per_batch]),
        "compression_ratio": np.array([compression_ratio(seqs, vocab_size, level) for seqs in per_batch]),
    }


def spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """Spearman's rho with its two-sided p value and how it was computed: exact (a permutation
    test over all n! orderings of y's ranks) up to EXACT_SPEARMAN_MAX values, else scipy's t
    approximation (which reads p = 1e-24 for five values in the same order; exact: 2 / 120)."""
    rho = float(stats.spearmanr(x, y).statistic)
    if len(x) > EXACT_SPEARMAN_MAX:
        return rho, float(stats.spearmanr(x, y).pvalue), "t approximation"
    rx = stats.rankdata(x) - (len(x) + 1) / 2

    def statistic(ry, axis=-1):
        ry = ry - ry.mean(axis=axis, keepdims=True)
        return (rx * ry).sum(axis) / np.sqrt((rx * rx).sum() * (ry * ry).sum(axis))

    test = stats.permutation_test(
        (stats.rankdata(y),), statistic, permutation_type="pairings", n_resamples=np.inf, vectorized=True
    )
    return rho, float(test.pvalue), "exact"


def kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float, str]:
    """Kendall's tau-b with its two-sided p value and how it was computed: exact without ties
    up to EXACT_KENDALL_MAX values, else the normal approximation."""
    exact = len(x) <= EXACT_KENDALL_MAX and len(np.unique(x)) == len(x) and len(np.unique(y)) == len(y)
    result = stats.kendalltau(x, y, method="exact" if exact else "asymptotic")
    return float(result.statistic), float(result.pvalue), "exact" if exact else "normal approximation"


def rank_agreement(table, reference: str, baselines: list[str]) -> list[dict]:
    """Spearman's rho and Kendall's tau between the reference column and each baseline across
    the table's rows (datasets), each p value with its method; NaN with fewer than 3 datasets."""
    rows = []
    for name in baselines:
        x, y = table[reference].to_numpy(float), table[name].to_numpy(float)
        keep = np.isfinite(x) & np.isfinite(y)
        x, y = x[keep], y[keep]
        nan = float("nan")
        rho, rho_p, rho_method = spearman(x, y) if len(x) >= 3 else (nan, nan, "")
        tau, tau_p, tau_method = kendall(x, y) if len(x) >= 3 else (nan, nan, "")
        rows.append(
            {
                "baseline": name,
                "n_datasets": len(x),
                "spearman": rho,
                "spearman_p": rho_p,
                "spearman_p_method": rho_method,
                "kendall": tau,
                "kendall_p": tau_p,
                "kendall_p_method": tau_method,
            }
        )
    return rows


def baseline_row(dataset: str, matrix: np.ndarray, lexical: dict, batch_size: int, diversity: float) -> dict:
    """One row of the baselines table from a dataset's own distance matrix and lexical measures."""
    vendi, smallest = vendi_score(1.0 - matrix)
    n = matrix.shape[0]
    return {
        "dataset": dataset,
        "n_batches": n,
        "batch_size": batch_size,
        "task2vec_diversity": diversity,
        "vendi": vendi,
        "vendi_per_batch": vendi / n,
        "vendi_min_eigenvalue": smallest,
        "distinct_ngrams": float(np.nanmean(lexical["distinct_ngrams"])),
        "distinct_ngrams_std": float(np.nanstd(lexical["distinct_ngrams"], ddof=1)) if n > 1 else float("nan"),
        "compression_ratio": float(np.nanmean(lexical["compression_ratio"])),
        "compression_ratio_std": float(np.nanstd(lexical["compression_ratio"], ddof=1)) if n > 1 else float("nan"),
    }


def agreement_figure(table, reference: str, baselines: list[str], path: str, agreement=None) -> None:
    """One scatter per baseline against the Task2Vec diversity, a point per dataset (one colour
    and marker each, named in one legend, so no label overlaps another); ``agreement`` (rows of
    rank_agreement) puts Spearman's rho with its p value in each panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_name = {row["baseline"]: row for row in agreement or []}
    fig, axes = plt.subplots(1, len(baselines), figsize=(3.6 * len(baselines) + 1.8, 3.8), squeeze=False)
    for ax, name in zip(axes[0], baselines):
        for i, (_, row) in enumerate(table.iterrows()):
            ax.scatter(
                row[reference], row[name], color=f"C{i % 10}", marker="osD^v<>"[i // 10 % 7], label=row["dataset"]
            )
        ax.set_xlabel("Task2Vec diversity", fontsize="small")
        ax.set_ylabel(name, fontsize="small")
        ax.tick_params(labelsize="x-small")
        ax.ticklabel_format(useOffset=False)
        if name in by_name and by_name[name]["n_datasets"] >= 3:
            row = by_name[name]
            ax.set_title(
                f"rho {row['spearman']:.2f}, p {row['spearman_p']:.3g} ({row['spearman_p_method']})", fontsize="x-small"
            )
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize="x-small", title="dataset", title_fontsize="x-small")
    fig.suptitle("Baselines on the same batches", fontsize="medium")
    fig.tight_layout(rect=(0, 0, 1 - 1.7 / fig.get_figwidth(), 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
