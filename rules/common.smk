import os
import sys

# the library, without installing it; scripts find it through scripts/task2vec_diversity
sys.path.insert(0, os.path.join(workflow.basedir, "src"))

from task2vec_diversity import config as cfg
from task2vec_diversity.errors import ConfigError

try:
    CONFIG = cfg.validate(config)
except ConfigError as error:
    sys.exit(f"error: {error}")

DATASETS = list(CONFIG["datasets"])
PROBE = cfg.probe_spec(CONFIG)
BUILT_PROBE = "results/probe" if CONFIG["probe"]["build"] else []
REPORT_OUTPUTS = [
    "results/report/diversity.csv",
    "results/report/diversity.md",
    "results/report/distance_histograms.png",
]


wildcard_constraints:
    dataset="|".join(DATASETS) or "none",
    batch=r"\d\d\d\d+",


def sampling(wildcards):
    return CONFIG["datasets"][wildcards.dataset]["sampling"]


def dataset_spec(wildcards):
    return CONFIG["datasets"][wildcards.dataset]


def prepare_input(wildcards):
    """Generated bounds need the probe's tokenizer; other sources only their config."""
    spec = CONFIG["datasets"][wildcards.dataset]
    return BUILT_PROBE if spec["source"] in ("lower_bound", "upper_bound") else []


def embeddings(wildcards):
    return expand(
        "results/embeddings/{dataset}/batch{batch}.zarr",
        dataset=wildcards.dataset,
        batch=[f"{i:04d}" for i in range(sampling(wildcards)["n_batches"])],
    )
