rule embed_shard:
    input:
        # the tokens file is rewritten when batches are added; embeddings made from it stay
        # valid (each records its batch's token hash, checked by every matrix that uses it)
        batches=ancient("results/batches/{dataset}/tokens.zarr"),
        probe=get_probe_files,
    output:
        SHARD_OUTPUTS,
    log:
        "logs/embed_shard/{dataset}/{key}/shard{shard}.log",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    params:
        identity=embedding_identity,
        device=CONFIG["task2vec"]["device"],
        lockstep=CONFIG["task2vec"]["lockstep"],
    script:
        "../scripts/embed_shard.py"
