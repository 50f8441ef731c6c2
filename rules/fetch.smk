# The fetch stage: the only jobs that use the network. By default they run on the node where
# snakemake was typed (local rules); with `fetch: {where: cluster}` they are cluster jobs (give
# them a partition with internet in your profile). Every other job runs offline (rules/common.smk).


if CONFIG["fetch"]["where"] == "local":

    localrules:
        fetch,
        fetch_probe,
        fetch_dataset,


# `snakemake fetch`: only the fetch stage (e.g. on the login node before a run)
rule fetch:
    input:
        get_fetch_outputs,


# a hub model (probe.id, probe.build.from) at the commit its revision resolves to
rule fetch_probe:
    output:
        directory("results/hub/probes/{snapshot}"),
    log:
        "logs/fetch_probe/{snapshot}.log",
    wildcard_constraints:
        snapshot="[^/]+",
    conda:
        "../envs/task2vec.yaml"
    params:
        probe=get_hub_probe,
    script:
        "../scripts/fetch_probe.py"


# a hub dataset's pool, streamed once at its resolved commit (also mixes of hub datasets)
rule fetch_dataset:
    output:
        "results/datasets/{dataset}/documents.parquet",
    log:
        "logs/fetch_dataset/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(HUB_DATASETS) or "none",
    conda:
        "../envs/task2vec.yaml"
    params:
        spec=get_data_spec,
        work_dir=get_download_dir,
    script:
        "../scripts/fetch_dataset.py"
