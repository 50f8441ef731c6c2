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


def shard_stores(per_job: int) -> list[str]:
    """The stores one embedding job writes, as patterns of {dataset}, {key} and {shard}: the
    ``per_job`` (1, 10 or 100) batches whose 4-digit number starts with {shard}."""
    digits = len(str(per_job)) - 1
    if not digits:
        return [f"{EMBEDDINGS}/batch{{shard}}.zarr"]
    return [f"{EMBEDDINGS}/batch{{shard}}{k:0{digits}d}.zarr" for k in range(per_job)]


def shard_batches(shard: str, per_job: int) -> list[int]:
    """The batch numbers of a shard, in the order of its stores (shard_stores)."""
    return [int(shard) * per_job + k for k in range(per_job)]


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
