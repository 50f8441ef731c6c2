"""The fetch stage: a hub dataset's pool of documents, streamed once at its resolved commit."""

from task2vec_diversity import hub

hub.online()  # before anything imports huggingface_hub: this job is the one that uses the network

from task2vec_diversity.runner import compute, run  # noqa: E402
from task2vec_diversity.sources import prepare  # noqa: E402
from task2vec_diversity.store import write_table  # noqa: E402


def main(snakemake, log):
    spec = snakemake.params.spec
    with compute(log.info, "prepare"):
        pool = prepare(snakemake.wildcards.dataset, spec, work_dir=snakemake.params.work_dir)
    write_table(pool, snakemake.output[0])  # with the checksum of its rows and provenance
    log.info("%d documents from source %s at commit %s", len(pool), spec["source"], pool.attrs.get("dataset_revision"))
    log.info(
        "dropped %s rows without a text or with an empty one, and %d exact duplicates (texts seen before)",
        "uncounted" if pool.attrs.get("empty_dropped") is None else pool.attrs["empty_dropped"],
        pool.attrs.get("duplicates_dropped", 0),
    )


run(snakemake, main)  # noqa: F821
