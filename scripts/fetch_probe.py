"""The fetch stage: a hub model at the commit its revision resolves to, stored locally."""

from task2vec_diversity import hub

hub.online()  # before anything imports huggingface_hub: this job is the one that uses the network

from task2vec_diversity.runner import run  # noqa: E402


def main(snakemake, log):
    probe = snakemake.params.probe
    hub.fetch_probe(probe["id"], probe["revision"], snakemake.output[0], log.info)
    log.info("probe %s stored in %s", probe["id"], snakemake.output[0])


run(snakemake, main)  # noqa: F821
