"""Diversity and alignment against the user's downstream results: the joined table, one
linear fit per predictor, metric and model, and the two scatter figures."""

import pandas as pd

from task2vec_diversity.downstream import fits, join, read_results, scatter_figure
from task2vec_diversity.report import markdown_table
from task2vec_diversity.runner import run


def main(snakemake, log):
    confidence = snakemake.params.downstream["confidence"]
    results = read_results(snakemake.input.results)
    diversity = pd.read_csv(snakemake.input.diversity)
    alignment = pd.read_csv(snakemake.input.alignment) if snakemake.input.get("alignment") else None
    joined = join(results, diversity, alignment)
    joined.to_csv(snakemake.output.joined, index=False)
    table = fits(joined, confidence)
    table.to_csv(snakemake.output.fits, index=False)
    with open(snakemake.output.markdown, "w") as out:
        out.write(markdown_table(table))
    scatter_figure(joined, "alignment", snakemake.output.alignment_figure, confidence)
    scatter_figure(joined, "diversity", snakemake.output.diversity_figure, confidence)
    log.info("%d downstream results, fits:\n%s", len(joined), markdown_table(table))


run(snakemake, main)  # noqa: F821
