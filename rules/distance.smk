rule distance_matrix:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=embeddings,
    output:
        directory("results/distances/{dataset}.zarr"),
    params:
        identity=cfg.embedding_spec(CONFIG),
    log:
        "logs/distance_matrix/{dataset}.log",
    script:
        "../scripts/distance_matrix.py"
