rule distance_matrix:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=embeddings,
    output:
        directory("results/distances/{dataset}.zarr"),
    log:
        "logs/distance_matrix/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        identity=cfg.embedding_spec(CONFIG),
    script:
        "../scripts/distance_matrix.py"
