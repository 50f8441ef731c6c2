rule prepare_dataset:
    input:
        probe=prepare_input,
    output:
        "results/datasets/{dataset}/documents.parquet",
    log:
        "logs/prepare_dataset/{dataset}.log",
    params:
        spec=dataset_spec,
        probe=PROBE,
    conda:
        "../envs/task2vec.yaml"
    script:
        "../scripts/prepare_dataset.py"
