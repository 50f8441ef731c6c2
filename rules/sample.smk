rule sample_batches:
    input:
        documents="results/datasets/{dataset}/documents.parquet",
        probe=BUILT_PROBE,
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
        probe=PROBE,
    script:
        "../scripts/sample_batches.py"
