rule prepare_dataset:
    input:
        probe=prepare_input,
        files=get_data_files,
    output:
        "results/datasets/{dataset}/documents.parquet",
    log:
        "logs/prepare_dataset/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        spec=data_spec,
        probe=prepare_probe,
    script:
        "../scripts/prepare_dataset.py"
