"""Data selection: rank the candidate sources and their batches by alignment to the target,
mix them to maximise alignment under the diversity floor, write the selected document ids."""

import pandas as pd

from task2vec_diversity.paths import oriented
from task2vec_diversity.provenance import check_comparable
from task2vec_diversity.report import markdown_table
from task2vec_diversity.runner import run
from task2vec_diversity.selection import select, selected_documents, selection_figure
from task2vec_diversity.store import read_array, read_manifest


def main(snakemake, log):
    par = snakemake.params
    sel = par.selection
    matrices, provenance = {}, {}
    for (a, b), path in zip(par.pairs, snakemake.input.matrices):
        matrix, attrs = read_array(path, "distances")
        if a == b:
            provenance[a] = attrs
        else:
            matrix, attrs = oriented(matrix, attrs, a)
            provenance[a], provenance[b] = attrs["rows"], attrs["columns"]
        matrices[(a, b)] = matrix
    first = provenance[sel["target"]]
    for dataset in sel["candidates"]:
        check_comparable(first, provenance[dataset])
    sources, batches, summary = select(
        sel["target"], sel["candidates"], matrices, sel["min_diversity"], sel["n_batches"], sel["starts"]
    )
    if not summary["floor_met_by_selection"]:
        log.warning(
            "the selected batches' diversity %.4g is below the floor %.4g (the mixture's expected diversity is %.4g): "
            "the most aligned batches of a source are less diverse than the source",
            summary["diversity_selected"],
            sel["min_diversity"],
            summary["diversity_estimated"],
        )
    manifests = {c: read_manifest(path) for c, path in zip(sel["candidates"], snakemake.input.manifests)}
    documents = selected_documents(batches, manifests)
    sources.to_csv(snakemake.output.sources, index=False)
    batches.to_csv(snakemake.output.batches, index=False)
    documents.to_csv(snakemake.output.documents, sep="\t", index=False)
    summary_table = pd.DataFrame([summary])
    summary_table.to_csv(snakemake.output.summary, index=False)
    with open(snakemake.output.markdown, "w") as out:
        out.write(markdown_table(sources) + "\n" + markdown_table(summary_table))
    selection_figure(sources, summary, snakemake.output.figure)
    log.info("selection for %s:\n%s\n%s", sel["target"], markdown_table(sources), markdown_table(summary_table))


run(snakemake, main)  # noqa: F821
