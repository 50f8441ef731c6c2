"""Distances between every batch of one dataset and every batch of another, after checking
that both were embedded alike."""

from task2vec_diversity.distance import distance_matrix
from task2vec_diversity.provenance import check_comparable, load_embeddings
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import open_group, write_arrays


def main(snakemake, log):
    inp, par = snakemake.input, snakemake.params
    a, attrs_a = load_embeddings(inp.embeddings_a, par.identity_a, open_group(inp.batches_a).attrs)
    b, attrs_b = load_embeddings(inp.embeddings_b, par.identity_b, open_group(inp.batches_b).attrs)
    check_comparable(attrs_a, attrs_b)
    with compute(log.info, "distances", needs=["torch"]):
        matrix = distance_matrix(a, b)
    attrs = {"rows": attrs_a, "columns": attrs_b}
    write_arrays(snakemake.output[0], {"distances": matrix}, attrs, dims={"distances": ("row", "column")})
    log.info("%d x %d cross distances of %s and %s", *matrix.shape, attrs_a["dataset"], attrs_b["dataset"])


run(snakemake, main)  # noqa: F821
