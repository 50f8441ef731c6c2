rule sample_batches:
    input:
        documents="results/datasets/{dataset}/documents.parquet",
        probe=get_probe_files,
    output:
        batches=directory("results/batches/{dataset}/tokens.zarr"),
        manifest="results/batches/{dataset}/manifest.tsv",
    log:
        "logs/sample_batches/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        sampling=sampling,
        modality=modality,
        probe=dataset_probe,
    script:
        "../scripts/sample_batches.py"
