"""The diversity table (CSV, Markdown) and the pairwise-distance histograms."""

import pandas as pd

from task2vec_diversity.distance import upper_triangle
from task2vec_diversity.report import COLUMNS, diversity_row, histogram_figure, markdown_table
from task2vec_diversity.runner import run
from task2vec_diversity.store import read_array


def main(snakemake, log):
    boot = snakemake.params.bootstrap
    rows, distances = [], {}
    for dataset, path in zip(snakemake.params.datasets, snakemake.input):
        matrix, attrs = read_array(path, "distances")
        rows.append(diversity_row(matrix, attrs, boot["bootstrap_replicates"], boot["bootstrap_seed"]))
        distances[dataset] = upper_triangle(matrix)
    table = pd.DataFrame(rows, columns=COLUMNS)
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as out:
        out.write(markdown_table(table))
    histogram_figure(distances, snakemake.output.figure)
    log.info("diversity of %d datasets:\n%s", len(table), markdown_table(table))


run(snakemake, main)  # noqa: F821
