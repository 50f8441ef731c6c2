"""Build the small local probe (GPT-2 architecture, word-level tokenizer) with save_pretrained."""

from task2vec_diversity.probe import build_probe
from task2vec_diversity.runner import run


def main(snakemake, log):
    build_probe(snakemake.params.build, snakemake.output[0], log.info)
    log.info("probe saved to %s", snakemake.output[0])


run(snakemake, main)  # noqa: F821
