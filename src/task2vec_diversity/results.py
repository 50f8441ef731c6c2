"""A finished run's results in a notebook (docs/results.md): a dataset's embeddings with their
provenance, its distance matrix, any store as an xarray Dataset, and the report's tables as
pandas DataFrames. Every array is read through :mod:`task2vec_diversity.store`, so it is
verified against the checksum it was written with (a damaged store raises StoreError, one
line naming it). ``results`` is the run's results folder (``<workdir>/results``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from . import paths
from .store import open_group, read_array, read_manifest

# per-batch provenance of an embedding store, as columns of provenance() and coordinates of embeddings()
BATCH_FIELDS = [
    "batch",
    "seed",
    "tokens_sha256",
    "final_loss",
    "finetune_seconds",
    "fisher_seconds",
    "wall_seconds",
    "empty_fisher_minibatches",
    "device",
    "probe_revision",
]


def open_store(path: str | Path) -> xr.Dataset:
    """Any store of a run (tokens, embedding, distance matrix...) as an xarray Dataset held in
    memory, verified; its attributes are the store's provenance. (``xarray.open_zarr(path)``
    opens it lazily instead, without the checksum check.)"""
    group = open_group(path)
    variables = {}
    for name in group:
        array = group[name]
        variables[name] = xr.Variable(array.dims or tuple(f"{name}_{i}" for i in range(len(array.shape))), array[...])
    return xr.Dataset(variables, attrs=group.attrs)


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True)


def _embedding_folder(results: Path, dataset: str, key: str | None) -> tuple[Path, int | None]:
    """The folder of the dataset's embeddings (the one its distance matrix was computed from
    when there are several) and how many batches that matrix has."""
    root = paths.inside(results, paths.DATASET_EMBEDDINGS.format(dataset=dataset))
    folders = sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith("."))
    if key is not None:
        folders = [p for p in folders if p.name == key]
    if not folders:
        raise FileNotFoundError(f"no embeddings of '{dataset}' under {root}" + (f" with key {key}" if key else ""))
    matrix = paths.inside(results, paths.DISTANCES.format(dataset=dataset))
    if not matrix.exists():
        if len(folders) > 1:
            raise ValueError(f"'{dataset}' has embeddings in {', '.join(p.name for p in folders)}: pass key=")
        return folders[0], None
    attrs = open_group(matrix).attrs
    for folder in folders:
        first = next(iter(sorted(folder.glob(paths.BATCH_STORES))), None)
        if first is None:
            continue
        stored = open_group(first).attrs
        if _canonical(stored["identity"]) == _canonical(attrs["identity"]):
            return folder, attrs.get("n_batches")
    if len(folders) == 1:
        return folders[0], None
    raise ValueError(
        f"none of '{dataset}''s embedding folders ({', '.join(p.name for p in folders)}) matches its matrix"
    )


def embedding_stores(results: str | Path, dataset: str, key: str | None = None) -> list[Path]:
    """The embedding stores of the dataset's batches, in batch order."""
    folder, n = _embedding_folder(Path(results), dataset, key)
    stores = sorted(folder.glob(paths.BATCH_STORES))
    return stores if n is None else stores[:n]


def embeddings(results: str | Path, dataset: str, batches=None, key: str | None = None) -> xr.DataArray:
    """The dataset's Task2Vec embeddings, [batch, component] (``batches``: a list of batch
    numbers, to load only these: a probe's embedding has one value per filter, 134,993 for GPT-2). Each
    batch's provenance is a coordinate along ``batch`` (seed, final_loss, tokens_sha256...);
    what all share (identity: probe and method; dataset; batch_size; max_length) is in attrs."""
    stores = embedding_stores(results, dataset, key)
    if batches is not None:
        stores = [stores[i] for i in batches]
    vectors, rows = [], []
    for path in stores:
        vector, attrs = read_array(path, "embedding")
        vectors.append(vector)
        rows.append(attrs)
    first = rows[0] if rows else {}
    coords = {field: ("batch", [row.get(field) for row in rows]) for field in BATCH_FIELDS if field != "batch"}
    coords["batch"] = [row["batch"] for row in rows]
    shared = {k: first[k] for k in ("identity", "dataset", "batch_size", "max_length", "versions") if k in first}
    return xr.DataArray(np.stack(vectors), dims=("batch", "component"), coords=coords, name="embedding", attrs=shared)


def provenance(results: str | Path, dataset: str, key: str | None = None) -> pd.DataFrame:
    """One row per batch: what each embedding was computed from and how (the fine-tuning
    losses, seconds, device, probe weights), read from the stores' attributes only."""
    rows = []
    for path in embedding_stores(results, dataset, key):
        attrs = open_group(path).attrs
        rows.append(
            {**{f: attrs.get(f) for f in BATCH_FIELDS}, "epoch_losses": attrs.get("epoch_losses"), "store": str(path)}
        )
    return pd.DataFrame(rows)


def distances(results: str | Path, dataset: str, other: str | None = None) -> xr.DataArray:
    """The distance matrix of a dataset's batches, [row, column] (batch numbers as coordinates);
    with ``other``, the cross matrix of the dataset's batches (rows) and the other's (columns).
    Its provenance is in attrs (for a cross matrix: ``rows`` and ``columns``)."""
    results = Path(results)
    if other is None or other == dataset:
        matrix, attrs = read_array(paths.inside(results, paths.DISTANCES.format(dataset=dataset)), "distances")
    else:  # kept once, with the dataset that comes first in the config as rows
        path = paths.inside(results, paths.CROSS_DISTANCES.format(a=dataset, b=other))
        flipped = paths.inside(results, paths.CROSS_DISTANCES.format(a=other, b=dataset))
        if flipped.exists() and not path.exists():
            path = flipped
        matrix, attrs = paths.oriented(*read_array(path, "distances"), rows=dataset)
    n, m = matrix.shape
    return xr.DataArray(
        matrix, dims=("row", "column"), coords={"row": range(n), "column": range(m)}, name="distances", attrs=attrs
    )


def manifest(results: str | Path, dataset: str) -> pd.DataFrame:
    """Which documents (ids, hashes, token counts) make up each batch of the dataset."""
    return read_manifest(Path(results) / "batches" / dataset / "manifest.tsv")


def tables(results: str | Path) -> dict[str, pd.DataFrame]:
    """Every table of the report, by name: diversity, alignment, alignment_table, baselines..."""
    return {path.stem: pd.read_csv(path) for path in sorted((Path(results) / "report").glob("*.csv"))}


def table(results: str | Path, name: str) -> pd.DataFrame:
    """One table of the report (``results/report/<name>.csv``) as a DataFrame."""
    path = Path(results) / "report" / f"{name}.csv"
    if not path.exists():
        found = ", ".join(p.stem for p in sorted(path.parent.glob("*.csv"))) or "none"
        raise FileNotFoundError(f"no report table {path} (the report has: {found})")
    return pd.read_csv(path)
