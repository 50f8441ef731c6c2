"""The noise floor of a dataset: the distances between the embeddings of each of its first
batches made with different seeds (its own and its re-embeddings), after checking that all
share the dataset's provenance and that each re-embedding used its own seed."""

import numpy as np

from task2vec_diversity.errors import ProvenanceError
from task2vec_diversity.noise import noise_distances, repeat_seed
from task2vec_diversity.paths import batch_store
from task2vec_diversity.provenance import load_embeddings
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import open_group, write_arrays


def main(snakemake, log):
    batches = open_group(snakemake.input.batches)
    identity = snakemake.params.identity
    own, attrs = load_embeddings(snakemake.input.own, identity, batches.attrs)
    base = identity["task2vec"]["seed"]
    stacks, seeds = [own], [[base + i for i in range(len(own))]]
    for repeat, folder in enumerate(snakemake.input.repeats, start=1):
        paths = [batch_store(folder, i) for i in range(len(own))]
        vectors, shared = load_embeddings(paths, identity, batches.attrs)
        if shared["probe_revision"] != attrs["probe_revision"]:
            raise ProvenanceError(f"{folder}: re-embeddings of other probe weights than the batches' own; rerun them")
        used = [int(open_group(path).attrs["seed"]) for path in paths]
        expected = [repeat_seed(base, repeat) + i for i in range(len(own))]
        if used != expected:
            raise ProvenanceError(f"{folder}: re-embeddings with seeds {used}, expected {expected}; rerun them")
        stacks.append(vectors)
        seeds.append(used)
    with compute(log.info, "noise floor"):
        distances = noise_distances(np.stack(stacks, axis=1))
    attrs = {**attrs, "n_batches": len(own), "seeds": seeds}
    write_arrays(snakemake.output[0], {"distances": distances}, attrs, dims={"distances": ("batch", "seed_pair")})
    log.info(
        "noise floor of %s: %.6f over %d batches x %d seeds (%d distances)",
        attrs["dataset"],
        distances.mean(),
        len(own),
        len(stacks),
        distances.size,
    )


run(snakemake, main)  # noqa: F821
