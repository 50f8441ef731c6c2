# How much of a coefficient is the estimator: the noise floor (a dataset's first batches embedded
# again with other seeds), the Fisher regime and the decomposition of the distance by module,
# and the activation baseline (the probe's mean last hidden state of each batch).

NOISE = CONFIG["noise_floor"]
# the decomposition and the activation baseline read token batches and a causal LM probe
TEXT_DATASETS = [d for d in DATASETS if cfg.modality(CONFIG["datasets"][d]) == "text"]


def noise_batches(dataset):
    """How many of a dataset's batches are embedded again (0: no noise floor)."""
    if not NOISE["seeds"]:
        return 0
    n = CONFIG["datasets"][dataset]["sampling"]["n_batches"]
    return min(NOISE["batches"], n)


NOISE_DATASETS = [d for d in DATASETS if noise_batches(d)]


def noise_inputs(wildcards):
    """A noise floor's embeddings: the batches' own and their re-embeddings (one folder of
    stores per other seed), in the folder of the dataset's current settings."""
    dataset = wildcards.dataset
    key = cfg.embedding_key(CONFIG, dataset)
    return {
        "batches": f"results/batches/{dataset}/tokens.zarr",
        "own": embeddings_of(dataset)[: noise_batches(dataset)],
        "repeats": [
            f"results/embeddings/{dataset}/{key}/noise/repeat{r}"
            for r in range(1, NOISE["seeds"] + 1)
        ],
    }


def noise_floors_of(datasets):
    return [
        f"results/distances/noise/{d}.zarr" for d in datasets if d in NOISE_DATASETS
    ]


rule embed_noise:
    input:
        batches=ancient("results/batches/{dataset}/tokens.zarr"),
        probe=get_probe_files,
    output:
        directory("results/embeddings/{dataset}/{key}/noise/repeat{repeat}"),
    log:
        "logs/embed_noise/{dataset}/{key}/repeat{repeat}.log",
    wildcard_constraints:
        repeat=r"[1-9]\d*",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    resources:
        gpu=embedding_gpus,
        mem_mb=doubled_on_retry(EMBEDDING_JOB_MB),
        runtime=doubled_on_retry(EMBEDDING_JOB_MINUTES),
        lockstep=CONFIG["task2vec"]["lockstep"],
    params:
        identity=embedding_identity,
        repeat=lambda wildcards: int(wildcards.repeat),
        noise_batches=lambda wildcards: noise_batches(wildcards.dataset),
    script:
        "../scripts/embed_shard.py"


rule noise_floor:
    input:
        unpack(noise_inputs),
    output:
        directory("results/distances/noise/{dataset}.zarr"),
    log:
        "logs/noise_floor/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    params:
        identity=embedding_identity,
    script:
        "../scripts/noise_floor.py"


rule fisher_regime:
    input:
        batches="results/batches/{dataset}/tokens.zarr",
        embeddings=embeddings,
        probe=get_probe_files,
    output:
        "results/regime/{dataset}.csv",
    log:
        "logs/fisher_regime/{dataset}.log",
    conda:
        "../envs/task2vec.yaml"
    threads: 1
    params:
        identity=embedding_identity,
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
        probe=dataset_probe,
    script:
        "../scripts/activations.py"
