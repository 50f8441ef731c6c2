# How much of a coefficient is the estimator: the noise floor (a dataset's first batches embedded
# again with other seeds), the Fisher regime and the decomposition of the distance by module,
# and the activation baseline (the probe's mean last hidden state of each batch).


rule embed_noise:
    input:
        batches=ancient("results/batches/{dataset}/tokens.zarr"),
        probe=get_probe_files,
    output:
        # the number of batches is in the path: more noise batches are a new output, not a params change
        directory(paths.NOISE_REPEAT),
    log:
        "logs/embed_noise/{dataset}/{key}/first{n}/repeat{repeat}.log",
    wildcard_constraints:
        repeat=r"[1-9]\d*",
        n=r"[1-9]\d*",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    resources:
        gpu=embedding_gpus,
        mem_mb=doubled_on_retry(EMBEDDING_JOB_MB),
        runtime=doubled_on_retry(EMBEDDING_JOB_MINUTES),
        lockstep=CONFIG["task2vec"]["lockstep"],
    params:
        identity=get_embedding_identity,
        repeat=get_repeat,
        noise_batches=get_noise_batches,
    script:
        "../scripts/embed_shard.py"


rule noise_floor:
    input:
        unpack(get_noise_inputs),
    output:
        directory(paths.NOISE_DISTANCES),
    log:
        "logs/noise_floor/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    resources:
        mem_mb=doubled_on_retry(CPU_JOB_MB),
        runtime=doubled_on_retry(CPU_JOB_MINUTES),
    params:
        identity=get_embedding_identity,
    script:
        "../scripts/noise_floor.py"


rule fisher_regime:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=get_embeddings,
        probe=get_probe_files,
    output:
        "results/regime/{dataset}.csv",
    log:
        "logs/fisher_regime/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    resources:
        mem_mb=doubled_on_retry(CPU_JOB_MB),
        runtime=doubled_on_retry(CPU_JOB_MINUTES),
    params:
        identity=get_embedding_identity,
    script:
        "../scripts/fisher_regime.py"


rule activations:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        probe=get_probe_files,
    output:
        directory("results/activations/{dataset}.zarr"),
    log:
        "logs/activations/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    resources:
        gpu=embedding_gpus,
        mem_mb=doubled_on_retry(EMBEDDING_JOB_MB),
        runtime=doubled_on_retry(EMBEDDING_JOB_MINUTES),
    params:
        probe=get_dataset_probe,
    script:
        "../scripts/activations.py"
