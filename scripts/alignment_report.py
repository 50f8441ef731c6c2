"""Cross diversity and alignment of every (training set, evaluation set) pair: the long
table (with the cross diversity against the two sets' noise floors), the paper's layout
(rows = training sets, columns = evaluation sets) and a heatmap."""

import os

import pandas as pd

from task2vec_diversity.noise import cross_noise_columns
from task2vec_diversity.paths import oriented
from task2vec_diversity.report import (
    ALIGNMENT_COLUMNS,
    alignment_row,
    alignment_sections,
    heatmap_figure,
    markdown_page,
    write_pages,
)
from task2vec_diversity.runner import run
from task2vec_diversity.store import read_array


def main(snakemake, log):
    par = snakemake.params
    boot = (par.report["bootstrap_replicates"], par.report["bootstrap_seed"])
    noise = {d: read_array(path, "distances")[0] for d, path in zip(par.noise_datasets, snakemake.input.noise)}
    rows = []
    for (train, eval_), path in zip(par.pairs, snakemake.input.matrices):
        matrix, attrs = read_array(path, "distances")
        if train != eval_:
            matrix, attrs = oriented(matrix, attrs, train)
        row = alignment_row(matrix, train, eval_, *boot)
        row.update(cross_noise_columns(matrix, noise.get(train), noise.get(eval_), *boot, square=train == eval_))
        rows.append(row)
    table = pd.DataFrame(rows, columns=ALIGNMENT_COLUMNS)
    table.to_csv(snakemake.output.table, index=False)
    layout = table.pivot(index="train", columns="eval", values="alignment")
    layout = layout.loc[list(dict.fromkeys(table["train"])), list(dict.fromkeys(table["eval"]))]
    layout.to_csv(snakemake.output.layout)
    heatmap_figure(layout, snakemake.output.figure, "Alignment coefficient (1 - cross diversity)")
    figure = os.path.basename(snakemake.output.figure)
    parts = alignment_sections(table, layout, figure)
    write_pages(parts, "Alignment", snakemake.output.markdown, snakemake.output.html, snakemake.output.figure)
    log.info("alignment of %d pairs:\n%s", len(table), markdown_page(parts))


run(snakemake, main)  # noqa: F821
