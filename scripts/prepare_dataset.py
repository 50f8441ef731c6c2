"""Prepare a dataset: its pool of non-empty documents, in sampling order."""

from task2vec_diversity.runner import compute, run
from task2vec_diversity.sources import prepare


def main(snakemake, log):
    spec = snakemake.params.spec
    probe = snakemake.params.probe  # the bounds' probe; None for sources that need no tokenizer
    tokenizer = None
    if probe:  # imported here: torch and transformers take seconds, and the other sources need neither
        from task2vec_diversity.probe import load_tokenizer

        tokenizer = load_tokenizer(probe)
    with compute(log.info, "prepare"):
        pool = prepare(snakemake.wildcards.dataset, spec, tokenizer)
    pool.to_parquet(snakemake.output[0], index=False)
    log.info("%d documents from source %s", len(pool), spec["source"])


run(snakemake, main)  # noqa: F821
