"""The diversity table (CSV, Markdown) of datasets and concatenated pools, beside the
paper's values, and the pairwise-distance histograms."""

import pandas as pd

from task2vec_diversity.distance import pooled_matrix, upper_triangle
from task2vec_diversity.report import COLUMNS, diversity_row, histogram_figure, markdown_table
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import read_array


def main(snakemake, log):
    par = snakemake.params
    boot = (par.report["bootstrap_replicates"], par.report["bootstrap_seed"])
    own = [read_array(path, "distances") for path in snakemake.input.datasets]
    cross = [read_array(path, "distances") for path in snakemake.input.pools]
    with compute(log.info, "report", needs=["matplotlib.pyplot"]):
        rows, distances, matrices, provenance = [], {}, {}, {}
        for dataset, (matrix, attrs) in zip(par.datasets, own):
            matrices[(dataset, dataset)], provenance[dataset] = matrix, attrs
            rows.append(diversity_row(matrix, attrs, *boot, paper=par.paper.get(dataset)))
            distances[dataset] = upper_triangle(matrix)
        for matrix, attrs in cross:
            matrices[(attrs["rows"]["dataset"], attrs["columns"]["dataset"])] = matrix
        for pool, members in par.pools.items():
            matrix = pooled_matrix(members, matrices)
            groups = [len(matrices[(m, m)]) for m in members]
            revisions = [
                f"{m}@{provenance[m]['dataset_revision']}" for m in members if provenance[m]["dataset_revision"]
            ]
            attrs = {**provenance[members[0]], "dataset_revision": ", ".join(revisions) or None}
            rows.append(diversity_row(matrix, attrs, *boot, name=pool, groups=groups, paper=par.paper.get(pool)))
        table = pd.DataFrame(rows, columns=COLUMNS)
        histogram_figure(distances, snakemake.output.figure, n_bins=par.report["histogram_bins"])
    table.to_csv(snakemake.output.table, index=False)
    with open(snakemake.output.markdown, "w") as out:
        out.write(markdown_table(table))
    log.info("diversity of %d datasets and %d pools:\n%s", len(par.datasets), len(par.pools), markdown_table(table))


run(snakemake, main)  # noqa: F821
