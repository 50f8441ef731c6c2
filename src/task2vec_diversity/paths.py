"""The results layout, written once: where the workflow stores a dataset's embeddings, the
name of each batch's store, the noise-floor folders, the distance matrices, and which way
round a cross matrix is kept. The rules (as patterns of their wildcards), the scripts and
results.py all take their paths from here. Imported at parse time: no torch, no data.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results"
# a dataset's embeddings, in the folder of the key of its settings (identity.embedding_key)
DATASET_EMBEDDINGS = RESULTS + "/embeddings/{dataset}"
EMBEDDINGS = DATASET_EMBEDDINGS + "/{key}"
# a re-embedding of a dataset's first n batches with the seeds of repeat number `repeat`
NOISE_REPEAT = EMBEDDINGS + "/noise/first{n}/repeat{repeat}"
DISTANCES = RESULTS + "/distances/{dataset}.zarr"
# the cross matrix of two datasets, stored once: rows are the batches of a, the dataset that
# comes first in the config (ordered)
CROSS_DISTANCES = RESULTS + "/distances/cross/{a}/{b}.zarr"
NOISE_DISTANCES = RESULTS + "/distances/noise/{dataset}.zarr"
BATCH_STORES = "batch*.zarr"  # a folder's batch stores, in batch order when sorted
# the config file(s) the report in results/report was made from (written by its job)
CONFIG_RECORD = RESULTS + "/report/configfiles.txt"


def inside(results: str | Path, path: str) -> Path:
    """A path of this layout in a results folder found elsewhere (results.py reads a finished run's)."""
    return Path(results) / Path(path).relative_to(RESULTS)


def batch_store(folder: str, index: int) -> str:
    """The store of batch ``index``'s embedding in a folder of embeddings."""
    return f"{folder}/batch{index:04d}.zarr"


# embeddings_per_job values whose shards one rule names by a prefix of their 4-digit batch numbers
PREFIX_SHARD_SIZES = (1, 10, 100, 1000)


def batch_index(store: str) -> int:
    """The batch number of a store named by batch_store."""
    return int(Path(store).name.removeprefix("batch").removesuffix(".zarr"))


def shards(n_batches: int, per_job: int) -> list[tuple[int, int]]:
    """A dataset's embedding jobs, as (first batch, number of batches): consecutive batches,
    ``per_job`` a job, the last job smaller when ``per_job`` does not divide ``n_batches``."""
    return [(first, min(per_job, n_batches - first)) for first in range(0, n_batches, per_job)]


def prefix_shards(n_batches: int, per_job: int) -> bool:
    """Whether rule embed_shard's patterns (shard_stores) name every shard of a dataset."""
    return per_job in PREFIX_SHARD_SIZES and n_batches % per_job == 0


def shard_stores(per_job: int) -> list[str]:
    """The stores one job of rule embed_shard writes, as patterns of {dataset}, {key} and
    {shard}: the ``per_job`` (a PREFIX_SHARD_SIZES) batches whose number starts with {shard}."""
    digits = len(str(per_job)) - 1
    if not digits:
        return [f"{EMBEDDINGS}/batch{{shard}}.zarr"]
    return [f"{EMBEDDINGS}/batch{{shard}}{k:0{digits}d}.zarr" for k in range(per_job)]


def other_shards(n_batches: dict, per_job: int) -> dict[tuple[int, int], list[str]]:
    """The shards rule embed_shard cannot name (``per_job`` not a PREFIX_SHARD_SIZES, or a
    dataset's smaller last shard), each with the datasets that have it: a rule each, whose
    stores are written out (a pattern of {dataset} and {key}). A dataset's shards are all named
    one way or all the other, so that no store has two rules."""
    out = {}
    for dataset, n in n_batches.items():
        if not prefix_shards(n, per_job):
            for shard in shards(n, per_job):
                out.setdefault(shard, []).append(dataset)
    return out


def listed_stores(first: int, count: int) -> list[str]:
    """The stores of batches first .. first + count - 1, as patterns of {dataset} and {key}."""
    return [batch_store(EMBEDDINGS, i) for i in range(first, first + count)]


def ordered(a: str, b: str, order: list) -> tuple[str, str]:
    """A pair of different datasets in the config's order: the way round its cross matrix is kept."""
    return (a, b) if order.index(a) < order.index(b) else (b, a)


def matrix_path(a: str, b: str, order: list) -> str:
    """The distance matrix between the batches of a and b (a's own matrix when a == b)."""
    if a == b:
        return DISTANCES.format(dataset=a)
    first, second = ordered(a, b, order)
    return CROSS_DISTANCES.format(a=first, b=second)


def oriented(matrix, attrs: dict, rows: str):
    """A stored cross matrix and its provenance, turned so that ``rows``' batches are the rows."""
    if attrs["rows"]["dataset"] == rows:
        return matrix, attrs
    return matrix.T, {"rows": attrs["columns"], "columns": attrs["rows"]}


def pair(matrices: dict, a: str, b: str):
    """From matrices keyed by (rows, columns) dataset, the one of a and b with a's batches as rows."""
    return matrices[(a, b)] if (a, b) in matrices else matrices[(b, a)].T
