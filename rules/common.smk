import os
import sys

# the library, without installing it; scripts find it through scripts/task2vec_diversity
sys.path.insert(0, os.path.join(workflow.basedir, "src"))
# and jobs import this checkout's library first, before any installed copy (Snakemake appends
# the scripts' folder to the end of a job's sys.path; conda jobs drop PYTHONPATH, and
# runner.run refuses to run another copy than the scripts' own)
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        [
            os.path.join(workflow.basedir, "src"),
            *filter(None, [os.environ.get("PYTHONPATH")]),
        ]
    )
)

from task2vec_diversity import config as cfg
from task2vec_diversity import config_text
from task2vec_diversity import hub
from task2vec_diversity import inputs
from task2vec_diversity import paths
from task2vec_diversity import gpus
from task2vec_diversity.errors import ConfigError, UserError

# the config files as YAML text first (a key given twice, a tag), then the demo's config
# unless config files are given with --configfile (which would otherwise be merged into it)
try:
    config_text.check(workflow.overwrite_configfiles or ["config/config.yaml"])
except ConfigError as error:
    sys.exit(f"error: {error}")
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# jobs read only local files: the hub is offline for every job started from here (local
# and SLURM jobs alike); the fetch stage (rules/fetch.smk) turns it back on for its own jobs
hub.offline_jobs()

# then the values (the schema and what it cannot say), and every local input: data files and
# probe folders, so that a missing one stops here, before any job (on a finished run too)
try:
    CONFIG = cfg.validate(config)
    inputs.check(CONFIG)
except UserError as error:
    sys.exit(f"error: {error}")

# one folder, one config: a run of another config file would overwrite this folder's report
# (a dry run overwrites nothing)
CONFIG_FILES = [os.path.relpath(f) for f in workflow.overwrite_configfiles] or [
    "config/config.yaml"
]
if not workflow.output_settings.dryrun:
    try:
        cfg.check_config_files(CONFIG_FILES)
    except ConfigError as error:
        sys.exit(f"error: {error}")

DATASETS = list(CONFIG["datasets"])
POOLS = CONFIG["pools"]
ALIGNMENT = CONFIG["alignment"]
SWEEPS = CONFIG["sweeps"]
PAPER_DIVERSITY = {
    name: spec["paper_diversity"]
    for name, spec in {**CONFIG["datasets"], **POOLS}.items()
    if spec.get("paper_diversity") is not None
}

# the optional sections: downstream correlation, baselines, data selection
DOWNSTREAM = CONFIG["downstream"]
BASELINES = CONFIG["baselines"]
SELECTION = CONFIG["selection"]
# every (a, b) matrix the selection reads: each candidate with the target and with each candidate
SELECTION_PAIRS = (
    [(c, SELECTION["target"]) for c in SELECTION["candidates"]]
    + [
        (a, b)
        for i, a in enumerate(SELECTION["candidates"])
        for b in SELECTION["candidates"][i:]
    ]
    if SELECTION
    else []
)
NOISE = CONFIG["noise_floor"]
# the lexical baselines, the decomposition and the activation baseline read token batches
TEXT_DATASETS = [d for d in DATASETS if cfg.modality(CONFIG["datasets"][d]) == "text"]
# the probes built by the workflow, by where they are saved
BUILT_PROBES = {
    cfg.built_probe_path(spec["probe"]["build"]): spec["probe"]["build"]
    for spec in CONFIG["datasets"].values()
    if spec["probe"]["build"]
}
# the fetch stage: the hub models' local copies (by where they are stored), and the datasets
# whose preparation streams the hub
HUB_PROBES = hub.hub_probes(CONFIG)
HUB_DATASETS = [d for d in DATASETS if hub.needs_hub(CONFIG["datasets"][d])]
LOCAL_DATASETS = [d for d in DATASETS if d not in HUB_DATASETS]
# The embedding jobs (rules/embed.smk), by the name of their rule; stores, log, datasets. Rule
# embed_shard writes the stores of the batches whose numbers start with {shard}; a shard it
# cannot name so (embeddings_per_job not 1, 10, 100 or 1000, or a smaller last shard) gets a
# rule of its own, embed_shard_<first>_<last>, whose stores are written out.
EMBEDDINGS_PER_JOB = CONFIG["task2vec"]["embeddings_per_job"]
N_BATCHES = {d: CONFIG["datasets"][d]["sampling"]["n_batches"] for d in DATASETS}
OTHER_SHARDS = paths.other_shards(N_BATCHES, EMBEDDINGS_PER_JOB)
EMBEDDING_JOBS = {
    "embed_shard": (
        paths.shard_stores(EMBEDDINGS_PER_JOB),
        "shard{shard}",
        [d for d in DATASETS if paths.prefix_shards(N_BATCHES[d], EMBEDDINGS_PER_JOB)],
    ),
    **{
        f"embed_shard_{first:04d}_{first + count - 1:04d}": (
            paths.listed_stores(first, count),
            f"batches{first:04d}-{first + count - 1:04d}",
            datasets,
        )
        for (first, count), datasets in OTHER_SHARDS.items()
    },
}


wildcard_constraints:
    dataset="|".join(DATASETS) or "none",
    a="|".join(DATASETS) or "none",
    b="|".join(DATASETS) or "none",
    key="[0-9a-f]{12}",
    probe="[0-9a-f]{12}",
    shard=r"\d+",


# What a job asks a cluster for, declared here rather than in profiles/slurm so that a user's
# profile can set default-resources and set-resources (account, partitions) without losing
# them: memory in MB and time limit in minutes, doubled on the retry (attempt 2).
def doubled_on_retry(value):
    return lambda wildcards, attempt: value * attempt


CPU_JOB_MB, CPU_JOB_MINUTES = 4000, 30
EMBEDDING_JOB_MB, EMBEDDING_JOB_MINUTES = 16000, 120


def embedding_gpus(wildcards):
    """The GPUs one embedding job asks for (task2vec.device; gpus.requested): not a param,
    so that changing the device reruns nothing."""
    return gpus.requested(CONFIG["task2vec"]["device"], workflow.non_local_exec)


def get_sampling(wildcards):
    return CONFIG["datasets"][wildcards.dataset]["sampling"]


def get_modality(wildcards):
    """image (few-shot tasks for an image probe) or text (token batches)."""
    return cfg.modality(CONFIG["datasets"][wildcards.dataset])


def get_data_spec(wildcards):
    return cfg.data_spec(CONFIG["datasets"][wildcards.dataset])


def get_dataset_probe(wildcards):
    """The dataset's probe: hub id or path, revision, init, and how it is built."""
    return cfg.probe_spec(CONFIG, wildcards.dataset)


def get_built_probe(wildcards):
    """The folder of the dataset's probe when the workflow builds it."""
    spec = CONFIG["datasets"][wildcards.dataset]["probe"]
    return cfg.built_probe_path(spec["build"]) if spec["build"] else []


def get_probe_files(wildcards):
    """The folder a job loads the dataset's probe from: the built probe, or the local copy of a
    hub model (rule fetch_probe); nothing for a local directory given by the user."""
    spec = CONFIG["datasets"][wildcards.dataset]["probe"]
    if spec["build"]:
        return cfg.built_probe_path(spec["build"])
    return (
        hub.snapshot_path(spec["id"], spec["revision"])
        if hub.is_hub_id(spec["id"])
        else []
    )


def get_build_base(wildcards):
    """The local copy of the hub model a built probe starts from (``build.from``)."""
    build = get_probe_build(wildcards)
    if build["from"] and hub.is_hub_id(build["from"]):
        return hub.snapshot_path(build["from"], build["from_revision"])
    return []


def get_hub_probe(wildcards):
    return HUB_PROBES[f"results/hub/probes/{wildcards.snapshot}"]


def get_download_dir(wildcards):
    """Where a hub dataset's download keeps its parts until it is complete (not an output:
    Snakemake would delete it when the job fails, and a killed download resumes from it), and
    where local files are converted to Arrow while they are read (deleted at once).
    """
    return f"results/datasets/{wildcards.dataset}/download"


def get_fetch_outputs(wildcards):
    """Everything the fetch stage stores: the hub models and the hub datasets' pools."""
    pools = [f"results/datasets/{d}/documents.parquet" for d in HUB_DATASETS]
    return list(HUB_PROBES) + pools


def get_probe_build(wildcards):
    return BUILT_PROBES[f"results/probe/{wildcards.probe}"]


def made_with_tokenizer(wildcards):
    """Only the generated bounds are made with the probe's tokenizer: other datasets'
    documents do not depend on the probe, so changing it does not prepare them again."""
    return cfg.SOURCE_KINDS[CONFIG["datasets"][wildcards.dataset]["source"]].tokenizer


def get_prepare_probe(wildcards):
    return get_dataset_probe(wildcards) if made_with_tokenizer(wildcards) else None


def get_prepare_input(wildcards):
    return get_probe_files(wildcards) if made_with_tokenizer(wildcards) else []


def get_data_files(wildcards):
    """A dataset's local data files: inputs of its preparation, so an edited file prepares it again."""
    return inputs.local_files(CONFIG["datasets"][wildcards.dataset])


FILES_SHA256 = {}


def data_files_sha256(dataset):
    """Content hashes of a dataset's local files (in its embeddings' key), each file read
    once (and again only when it changes); a local folder that is a clean git checkout by
    its commit instead."""
    if dataset not in FILES_SHA256:
        files, commits = inputs.identity_files(CONFIG["datasets"][dataset])
        FILES_SHA256[dataset] = {
            **inputs.cached_sha256(
                files, ".snakemake/task2vec_diversity/files_sha256.json"
            ),
            **commits,
        }
    return FILES_SHA256[dataset]


def get_embedding_identity(wildcards):
    return cfg.embedding_spec(CONFIG, wildcards.dataset)


def embeddings_of(dataset):
    """The embedding stores of a dataset's batches, in the folder of its current settings."""
    key = cfg.embedding_key(CONFIG, dataset, data_files_sha256(dataset))
    n = CONFIG["datasets"][dataset]["sampling"]["n_batches"]
    folder = paths.EMBEDDINGS.format(dataset=dataset, key=key)
    return [paths.batch_store(folder, i) for i in range(n)]


def get_embeddings(wildcards):
    return embeddings_of(wildcards.dataset)


def get_cross_inputs(wildcards):
    return {
        "batches_a": f"results/batches/{wildcards.a}/tokens.zarr",
        "batches_b": f"results/batches/{wildcards.b}/tokens.zarr",
        "embeddings_a": embeddings_of(wildcards.a),
        "embeddings_b": embeddings_of(wildcards.b),
    }


def matrix_path(a, b):
    """The distance matrix between the batches of a and b (a's own matrix when a == b)."""
    return paths.matrix_path(a, b, DATASETS)


def get_pool_cross_matrices(wildcards):
    """The cross matrices of every pair of datasets of a pool (their own matrices come anyway)."""
    pairs = {
        paths.ordered(a, b, DATASETS)
        for pool in POOLS.values()
        for a in pool["datasets"]
        for b in pool["datasets"]
        if a != b
    }
    return [matrix_path(a, b) for a, b in sorted(pairs)]


def get_alignment_matrices(wildcards):
    return [matrix_path(a, b) for a in ALIGNMENT["train"] for b in ALIGNMENT["eval"]]


def get_downstream_inputs(wildcards):
    inputs = {
        "results": DOWNSTREAM["results"],
        "diversity": "results/report/diversity.csv",
    }
    if ALIGNMENT:
        inputs["alignment"] = "results/report/alignment.csv"
    return inputs


def get_selection_matrices(wildcards):
    return [matrix_path(a, b) for a, b in SELECTION_PAIRS]


def get_selection_manifests(wildcards):
    """The candidates' manifests: the document ids of their batches."""
    return [f"results/batches/{c}/manifest.tsv" for c in SELECTION["candidates"]]


def noise_batches(dataset):
    """How many of a dataset's batches are embedded again (0: no noise floor)."""
    if not NOISE["seeds"]:
        return 0
    n = CONFIG["datasets"][dataset]["sampling"]["n_batches"]
    return min(NOISE["batches"], n)


NOISE_DATASETS = [d for d in DATASETS if noise_batches(d)]


def get_noise_inputs(wildcards):
    """A noise floor's embeddings: the batches' own and their re-embeddings (one folder of
    stores per other seed), in the folder of the dataset's current settings."""
    dataset = wildcards.dataset
    key = cfg.embedding_key(CONFIG, dataset, data_files_sha256(dataset))
    return {
        "batches": f"results/batches/{dataset}/tokens.zarr",
        "own": embeddings_of(dataset)[: noise_batches(dataset)],
        "repeats": [
            paths.NOISE_REPEAT.format(
                dataset=dataset, key=key, n=noise_batches(dataset), repeat=r
            )
            for r in range(1, NOISE["seeds"] + 1)
        ],
    }


def noise_floors_of(datasets):
    return [
        paths.NOISE_DISTANCES.format(dataset=d) for d in datasets if d in NOISE_DATASETS
    ]


def get_noise_batches(wildcards):
    """How many first batches a re-embedding holds, from its path."""
    return int(wildcards.n)


def get_repeat(wildcards):
    """The re-embedding's number, from its wildcard (1 to noise_floor.seeds)."""
    return int(wildcards.repeat)


def get_identity_a(wildcards):
    return cfg.embedding_spec(CONFIG, wildcards.a)


def get_identity_b(wildcards):
    return cfg.embedding_spec(CONFIG, wildcards.b)
