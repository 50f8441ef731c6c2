rule distance_matrix:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=embeddings,
    output:
        directory("results/distances/{dataset}.zarr"),
    log:
        "logs/distance_matrix/{dataset}.log",
    params:
        identity=cfg.embedding_spec(CONFIG),
    conda:
        "../envs/task2vec.yaml"
    script:
        "../scripts/distance_matrix.py"
