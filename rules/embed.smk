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
    resources:
        # gpu: 0 or 1 (task2vec.device): --resources gpu=N locally, sbatch --gpus on SLURM
        gpu=embedding_gpus,
        mem_mb=doubled_on_retry(EMBEDDING_JOB_MB),
        runtime=doubled_on_retry(EMBEDDING_JOB_MINUTES),
        # batches fine-tuned together: how, not what (execution settings are resources, not params)
        lockstep=CONFIG["task2vec"]["lockstep"],
    params:
        # only the identity, which is in the output path: a param change never reruns it
        identity=get_embedding_identity,
    script:
        "../scripts/embed_shard.py"
