"""Prepare a dataset: its pool of non-empty documents, in sampling order."""

from task2vec_diversity.probe import load_tokenizer
from task2vec_diversity.runner import run
from task2vec_diversity.sources import prepare


def main(snakemake, log):
    spec = snakemake.params.spec
    needs_tokenizer = spec["source"] in ("lower_bound", "upper_bound")
    tokenizer = load_tokenizer(snakemake.params.probe) if needs_tokenizer else None
    pool = prepare(snakemake.wildcards.dataset, spec, tokenizer)
    pool.to_parquet(snakemake.output[0], index=False)
    log.info("%d documents from source %s", len(pool), spec["source"])


run(snakemake, main)  # noqa: F821
