rule embed_batch:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        probe=BUILT_PROBE,
    output:
        directory("results/embeddings/{dataset}/batch{batch}.zarr"),
    log:
        "logs/embed_batch/{dataset}/batch{batch}.log",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    params:
        identity=cfg.embedding_spec(CONFIG),
        device=CONFIG["task2vec"]["device"],
    script:
        "../scripts/embed_batch.py"
