"""Baselines on the very same batches as the diversity coefficient: the Vendi score of each
dataset's batch similarities (1 - Task2Vec distance), distinct n-gram and compression ratios of
its batches' tokens, the activation baseline (mean pairwise cosine distance of the probe's mean
last hidden state of each batch), and their rank agreement with the Task2Vec diversity across
datasets."""

import os

import pandas as pd

from task2vec_diversity.activations import cosine_distances
from task2vec_diversity.baselines import (
    AGREEMENT_COLUMNS,
    BASELINE_COLUMNS,
    agreement_figure,
    baseline_row,
    lexical_measures,
    rank_agreement,
)
from task2vec_diversity.coefficients import coefficient
from task2vec_diversity.distance import upper_triangle
from task2vec_diversity.errors import ProvenanceError
from task2vec_diversity.report import markdown_page, write_pages
from task2vec_diversity.runner import run
from task2vec_diversity.store import open_group, read_array

MEASURES = ["vendi", "distinct_ngrams", "compression_ratio", "activation_diversity"]


def activation_columns(path, batches, n: int, report: dict) -> dict:
    """The activation baseline of a dataset's first n batches (those of its coefficient), with
    the bootstrap interval of the config's report settings."""
    vectors, attrs = read_array(path, "activations")
    if list(attrs["tokens_sha256"][:n]) != list(batches.attrs["tokens_sha256"][:n]):
        raise ProvenanceError(f"{path} was computed from other tokens than the batches hold now; rerun it")
    coef = coefficient(cosine_distances(vectors[:n]), report["bootstrap_replicates"], report["bootstrap_seed"])
    return {
        "activation_diversity": coef.value,
        "activation_ci95_low": coef.ci95_low,
        "activation_ci95_high": coef.ci95_high,
    }


def main(snakemake, log):
    par = snakemake.params
    rows = []
    inputs = zip(par.datasets, snakemake.input.matrices, snakemake.input.batches, snakemake.input.activations)
    for dataset, matrix_path, batches_path, activations_path in inputs:
        matrix, attrs = read_array(matrix_path, "distances")
        batches = open_group(batches_path)
        lexical = lexical_measures(
            batches["input_ids"][:],
            batches["attention_mask"][:],
            batches.attrs["vocab_size"],
            par.baselines["ngram"],
            par.baselines["compression_level"],
        )
        diversity = float(upper_triangle(matrix).mean())
        row = baseline_row(dataset, matrix, lexical, attrs["batch_size"], diversity)
        rows.append({**row, **activation_columns(activations_path, batches, len(matrix), par.report)})
    table = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    table.to_csv(snakemake.output.table, index=False)
    agreement = pd.DataFrame(rank_agreement(table, "task2vec_diversity", MEASURES), columns=AGREEMENT_COLUMNS)
    agreement.to_csv(snakemake.output.agreement, index=False)
    agreement_figure(table, "task2vec_diversity", MEASURES, snakemake.output.figure, agreement.to_dict("records"))
    figure = os.path.basename(snakemake.output.figure)
    parts = ["# Baselines", table, "Rank agreement with the Task2Vec diversity:", agreement, ("Baselines", figure)]
    write_pages(parts, "Baselines", snakemake.output.markdown, snakemake.output.html, snakemake.output.figure)
    log.info("baselines of %d datasets:\n%s", len(table), markdown_page(parts))


run(snakemake, main)  # noqa: F821
