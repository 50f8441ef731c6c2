# datasets read from local files or generated; hub datasets are prepared by rule
# fetch_dataset (rules/fetch.smk), the only one that streams the hub
rule prepare_dataset:
    input:
        probe=get_prepare_input,
        files=get_data_files,
    output:
        "results/datasets/{dataset}/documents.parquet",
    log:
        "logs/prepare_dataset/{dataset}.log",
    wildcard_constraints:
        dataset="|".join(LOCAL_DATASETS) or "none",
    conda:
        "../envs/task2vec.yaml"
    resources:
        mem_mb=doubled_on_retry(CPU_JOB_MB),
        runtime=doubled_on_retry(CPU_JOB_MINUTES),
    params:
        spec=get_data_spec,
        probe=get_prepare_probe,
        work_dir=get_download_dir,
    script:
        "../scripts/prepare_dataset.py"
