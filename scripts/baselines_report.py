"""Baselines on the very same batches as the diversity coefficient: the Vendi score of each
dataset's batch similarities (1 - Task2Vec distance), distinct n-gram and compression ratios of
its batches' tokens, and their rank agreement with the Task2Vec diversity across datasets."""

import pandas as pd

from task2vec_diversity.baselines import (
    AGREEMENT_COLUMNS,
    BASELINE_COLUMNS,
    agreement_figure,
    baseline_row,
    lexical_measures,
    rank_agreement,
)
from task2vec_diversity.distance import upper_triangle
from task2vec_diversity.report import markdown_table
from task2vec_diversity.runner import run
from task2vec_diversity.store import open_group, read_array

MEASURES = ["vendi", "distinct_ngrams", "compression_ratio"]


def main(snakemake, log):
    par = snakemake.params
    rows = []
    for dataset, matrix_path, batches_path in zip(par.datasets, snakemake.input.matrices, snakemake.input.batches):
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
        rows.append(baseline_row(dataset, matrix, lexical, attrs["batch_size"], diversity))
    table = pd.DataFrame(rows, columns=BASELINE_COLUMNS)
    table.to_csv(snakemake.output.table, index=False)
    agreement = pd.DataFrame(rank_agreement(table, "task2vec_diversity", MEASURES), columns=AGREEMENT_COLUMNS)
    agreement.to_csv(snakemake.output.agreement, index=False)
    with open(snakemake.output.markdown, "w") as out:
        out.write(markdown_table(table) + "\nRank agreement with the Task2Vec diversity:\n\n")
        out.write(markdown_table(agreement))
    agreement_figure(table, "task2vec_diversity", MEASURES, snakemake.output.figure)
    log.info("baselines of %d datasets:\n%s\n%s", len(table), markdown_table(table), markdown_table(agreement))


run(snakemake, main)  # noqa: F821
