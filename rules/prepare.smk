rule prepare_dataset:
    input:
        probe=prepare_input,
    output:
        "results/datasets/{dataset}/documents.parquet",
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    resources:
        mem_mb=doubled_on_retry(CPU_JOB_MB),
        runtime=doubled_on_retry(CPU_JOB_MINUTES),
    params:
        spec=data_spec,
        probe=prepare_probe,
    script:
        "../scripts/prepare_dataset.py"
