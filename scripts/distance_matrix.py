"""Distance matrix of a dataset's embeddings, after checking they share one provenance."""

from task2vec_diversity.distance import distance_matrix
from task2vec_diversity.provenance import load_embeddings
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import open_group, write_arrays


def main(snakemake, log):
    batches = open_group(snakemake.input.batches)
    vectors, attrs = load_embeddings(snakemake.input.embeddings, snakemake.params.identity, batches.attrs)
    with compute(log.info, "distances", needs=["torch"]):
        matrix = distance_matrix(vectors)
    write_arrays(snakemake.output[0], {"distances": matrix}, attrs, dims={"distances": ("row", "column")})
    log.info("%d x %d distances of embeddings of length %d", *matrix.shape, vectors.shape[1])


run(snakemake, main)  # noqa: F821
