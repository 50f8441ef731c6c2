"""GINC sweeps: each sweep's diversity coefficients, the quadratic-in-log fit with its R^2,
and the trend figure."""

import pandas as pd

from task2vec_diversity.report import markdown_table
from task2vec_diversity.runner import run
from task2vec_diversity.sweeps import sweep_figure, sweep_tables


def main(snakemake, log):
    diversity = pd.read_csv(snakemake.input.diversity)
    points, fits = sweep_tables(diversity, snakemake.params.sweeps)
    points.to_csv(snakemake.output.points, index=False)
    fits.to_csv(snakemake.output.fits, index=False)
    sweep_figure(points, fits, snakemake.output.figure)
    log.info("sweep fits:\n%s", markdown_table(fits))


run(snakemake, main)  # noqa: F821
