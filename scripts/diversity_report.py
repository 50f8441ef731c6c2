"""The diversity table (CSV, Markdown) of datasets and concatenated pools, beside the
paper's values, with each dataset's noise floor and Fisher regime; the pairwise-distance
histograms beside the noise-floor distances; the decomposition of the diversity by module."""

import os

import pandas as pd

from task2vec_diversity.decomposition import DECOMPOSITION_COLUMNS, decomposition_figure
from task2vec_diversity.distance import pooled_matrix, upper_triangle
from task2vec_diversity.noise import noise_columns
from task2vec_diversity.report import (
    COLUMNS,
    diversity_figure,
    diversity_row,
    diversity_sections,
    histogram_figure,
    html_body,
    markdown_page,
    markdown_table,
    noise_line,
    noise_summary,
    ranks,
    write_pages,
)
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import read_array


def regime_columns(table) -> dict:
    """The two regime columns of a dataset, from the total row of its decomposition."""
    total = table[table.group == "total"].iloc[0]
    return {
        "fisher_coordinates_above_eps": float(total.coordinates_above_eps),
        "fisher_mass_above_eps": float(total.mass_above_eps),
    }


def main(snakemake, log):
    par = snakemake.params
    boot = (par.report["bootstrap_replicates"], par.report["bootstrap_seed"])
    own = [read_array(path, "distances") for path in snakemake.input.datasets]
    cross = [read_array(path, "distances") for path in snakemake.input.pools]
    noise = {d: read_array(path, "distances")[0] for d, path in zip(par.noise_datasets, snakemake.input.noise)}
    regimes = {d: pd.read_csv(path) for d, path in zip(par.regime_datasets, snakemake.input.regime)}
    with compute(log.info, "report", needs=["matplotlib.pyplot"]):
        rows, distances, matrices, provenance = [], {}, {}, {}
        for dataset, (matrix, attrs) in zip(par.datasets, own):
            matrices[(dataset, dataset)], provenance[dataset] = matrix, attrs
            row = diversity_row(matrix, attrs, *boot, paper=par.paper.get(dataset))
            row.update(noise_columns(noise.get(dataset), matrix, *boot))
            if dataset in regimes:
                row.update(regime_columns(regimes[dataset]))
            rows.append(row)
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
            dropped = [provenance[m].get("pool", {}).get("duplicates_dropped") for m in members]
            dropped = None if None in dropped else sum(dropped)
            row = diversity_row(
                matrix, attrs, *boot, name=pool, groups=groups, paper=par.paper.get(pool), duplicates=dropped
            )
            rows.append({**row, **noise_columns(None, None, *boot)})
        table = pd.DataFrame(rows, columns=COLUMNS)
        table["rank"] = ranks(table)
        diversity_figure(table, snakemake.output.headline)
        histogram_figure(
            distances,
            snakemake.output.figure,
            n_bins=par.report["histogram_bins"],
            noise={d: f.ravel() for d, f in noise.items()},
        )
        parts = [regimes[d] for d in par.regime_datasets]
        decomposition = pd.concat(parts) if parts else pd.DataFrame(columns=DECOMPOSITION_COLUMNS)
        decomposition_figure(decomposition, snakemake.output.decomposition_figure)
    table.to_csv(snakemake.output.table, index=False)
    decomposition.to_csv(snakemake.output.decomposition, index=False)
    line = noise_line(table, par.report["noise_share_threshold"], par.fisher_samples)
    summary = "\n".join(filter(None, [line, noise_summary(table)]))
    figure = os.path.basename(snakemake.output.headline)
    parts = diversity_sections(table, summary, figure)
    write_pages(parts, "Diversity", snakemake.output.markdown, snakemake.output.html, snakemake.output.headline)
    with open(snakemake.output.answer, "w") as out:  # the compact table, on the report's first page
        out.write(html_body([*parts[1:3], *line.splitlines()]) + "\n")
    with open(snakemake.output.decomposition_markdown, "w") as out:
        out.write(markdown_table(decomposition))
    with open(snakemake.output.configfiles, "w") as out:  # which config this report is of
        out.write("".join(f"{path}\n" for path in par.configfiles))
    log.info("diversity of %d datasets, %d pools:\n%s", len(par.datasets), len(par.pools), markdown_page(parts))


run(snakemake, main)  # noqa: F821
