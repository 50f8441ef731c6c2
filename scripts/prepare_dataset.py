"""Prepare a dataset: its pool of non-empty documents, in sampling order."""

from task2vec_diversity.inputs import library_version
from task2vec_diversity.runner import compute, run
from task2vec_diversity.sources import prepare
from task2vec_diversity.store import write_table


def main(snakemake, log):
    spec = snakemake.params.spec
    probe = snakemake.params.probe  # the bounds' probe; None for sources that need no tokenizer
    tokenizer = None
    if probe:  # imported here: torch and transformers take seconds, and the other sources need neither
        from task2vec_diversity.probe import load_tokenizer

        tokenizer = load_tokenizer(probe)
    with compute(log.info, "prepare"):
        pool = prepare(snakemake.wildcards.dataset, spec, tokenizer, work_dir=snakemake.params.work_dir)
    pool.attrs["library"] = library_version()  # the pool's provenance (pandas keeps attrs in the parquet file)
    write_table(pool, snakemake.output[0])  # with the checksum of its rows and provenance
    log.info("%d documents from source %s", len(pool), spec["source"])
    if "duplicates_dropped" in pool.attrs:
        log.info(
            "dropped %s rows without a text or with an empty one, and %d exact duplicates (texts seen before)",
            pool.attrs["empty_dropped"],
            pool.attrs["duplicates_dropped"],
        )
    for path, sha in pool.attrs.get("files_sha256", {}).items():
        log.info("file %s sha256 %s", path, sha)


run(snakemake, main)  # noqa: F821
