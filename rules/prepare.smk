rule prepare_dataset:
    input:
        probe=prepare_input,
    output:
        "results/datasets/{dataset}/documents.parquet",
    params:
        spec=dataset_spec,
        probe=PROBE,
    log:
        "logs/prepare_dataset/{dataset}.log",
    script:
        "../scripts/prepare_dataset.py"
