"""Stores are verified when read: a missing, truncated or changed chunk stops with one line
naming the store and what to delete; never zeros or NaN. Every store opens with xarray."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import zarr

from task2vec_diversity.distance import distance_matrix, upper_triangle
from task2vec_diversity.errors import StoreError
from task2vec_diversity.provenance import load_embeddings
from task2vec_diversity.store import open_group, read_array, write_arrays

KEYS = [
    0,
    2,
    -1,
    slice(None),
    slice(1, 4),
    slice(None, None, 2),
    slice(4, 0, -1),
    slice(3, 3),
    (3, slice(None), 1),
    Ellipsis,
]


def chunk_files(store: Path, name: str) -> list[Path]:
    return sorted(p for p in (store / name / "c").rglob("*") if p.is_file())


def test_reads_return_what_was_written(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {
        "input_ids": rng.integers(0, 300, (5, 4, 8)),
        "distances": rng.random((5, 7)),
        "embedding": rng.random(11).astype(np.float32),
        "scalar": np.float64(3.5),
    }
    write_arrays(tmp_path / "s.zarr", arrays, {"dataset": "d", "nested": {"a": [1, 2]}}, {"input_ids": (1, 4, 8)})
    group = open_group(tmp_path / "s.zarr")
    assert group.attrs == {"dataset": "d", "nested": {"a": [1, 2]}}
    assert sorted(group) == sorted(arrays)
    for name, data in arrays.items():
        assert group[name].shape == data.shape and group[name].dtype == data.dtype
        if data.ndim == 0:
            assert group[name][()] == data
            continue
        for key in KEYS:
            if isinstance(key, tuple) and len(key) > data.ndim:
                continue
            np.testing.assert_array_equal(group[name][key], data[key], err_msg=f"{name}[{key}]")


def test_missing_chunk_of_a_distance_matrix_never_reads_as_zeros(tmp_path):
    """Reproduction: a chunk of results/distances/<ds>.zarr deleted read as zeros (diversity 0.0)."""
    store = tmp_path / "results/distances/d.zarr"
    matrix = distance_matrix(np.random.default_rng(1).random((6, 30)) + 0.1)
    write_arrays(store, {"distances": matrix}, {"dataset": "d"}, dims={"distances": ("row", "column")})
    assert upper_triangle(read_array(store, "distances")[0]).mean() > 0
    chunk_files(store, "distances")[0].unlink()
    with pytest.raises(StoreError) as error:
        read_array(store, "distances")
    message = str(error.value)
    assert "\n" not in message and f"store {store} " in message and f"delete {store} " in message
    assert "1 of 1 chunks missing" in message


def embedding_stores(root: Path, vectors: np.ndarray, chunk: int) -> tuple[list[Path], dict]:
    identity = {"probe": {"id": "p"}, "task2vec": {"variant": "reference"}}
    hashes = [f"h{i}" for i in range(len(vectors))]
    paths = []
    for i, vector in enumerate(vectors):
        attrs = {"identity": identity, "batch": i, "tokens_sha256": hashes[i], "probe_revision": "r"}
        path = root / f"batch{i:04d}.zarr"
        write_arrays(path, {"embedding": vector}, attrs, {"embedding": (chunk,)}, {"embedding": ("component",)})
        paths.append(path)
    batches = {"tokens_sha256": hashes, "dataset": "d", "sampling": {"batch_size": 4, "max_length": 16}}
    return paths, {"identity": identity, "batches": batches}


def test_missing_chunk_of_a_two_chunk_embedding_stops_the_matrix(tmp_path):
    """Reproduction: an embedding with one of its two chunks deleted read as half zeros and the
    diversity moved (0.272 to 0.460); with a one-chunk embedding it was NaN."""
    vectors = np.random.default_rng(2).gamma(1.0, size=(4, 40)).astype(np.float32)
    paths, ids = embedding_stores(tmp_path, vectors, chunk=20)
    assert len(chunk_files(paths[1], "embedding")) == 2
    loaded, _ = load_embeddings(paths, ids["identity"], ids["batches"])
    np.testing.assert_array_equal(loaded, vectors)
    chunk_files(paths[1], "embedding")[1].unlink()
    with pytest.raises(StoreError, match=rf"^store {paths[1]} .*1 of 2 chunks missing\); delete {paths[1]} "):
        load_embeddings(paths, ids["identity"], ids["batches"])


def test_truncated_chunk_stops_with_one_line_naming_the_store(tmp_path):
    """Reproduction: a truncated chunk gave zstd's traceback, which names no store."""
    paths, ids = embedding_stores(tmp_path, np.random.default_rng(3).random((3, 50)), chunk=50)
    chunk = chunk_files(paths[2], "embedding")[0]
    chunk.write_bytes(chunk.read_bytes()[:7])
    with pytest.raises(StoreError) as error:
        load_embeddings(paths, ids["identity"], ids["batches"])
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"store {paths[2]} (array 'embedding') cannot be decoded")
    assert message.endswith(f"delete {paths[2]} and run the workflow again to recompute it")


def test_changed_values_and_changed_metadata_are_refused(tmp_path):
    store = tmp_path / "s.zarr"
    data = np.arange(24, dtype=np.int64).reshape(6, 4)
    write_arrays(store, {"x": data}, {}, {"x": (2, 4)})
    # one chunk replaced by a valid chunk with other values: it decodes, the hash differs
    (store / "x/c/2/0").write_bytes((store / "x/c/0/0").read_bytes())
    group = open_group(store)
    np.testing.assert_array_equal(group["x"][1], data[1])  # the rows read are verified, and only them
    with pytest.raises(StoreError, match="its values changed since it was written"):
        group["x"][4]
    with pytest.raises(StoreError, match="its values changed"):
        group["x"][:]
    # a shape edited in the metadata
    meta = json.loads((store / "x/zarr.json").read_text())
    meta["shape"] = [4, 4]
    (store / "x/zarr.json").write_text(json.dumps(meta))
    (store / "zarr.json").write_text(json.dumps({"zarr_format": 3, "node_type": "group", "attributes": {}}))
    with pytest.raises(StoreError, match=r"is int64 \[4, 4\] but was written as int64 \[6, 4\]"):
        open_group(store)["x"]


def test_stores_without_a_checksum_and_missing_stores_are_refused(tmp_path):
    legacy = zarr.open_group(str(tmp_path / "old.zarr"), mode="w")
    legacy.create_array("distances", data=np.ones((3, 3)))
    with pytest.raises(StoreError, match="has no checksum"):
        read_array(tmp_path / "old.zarr", "distances")
    with pytest.raises(StoreError, match="does not exist; run the workflow again"):
        open_group(tmp_path / "none.zarr")
    (tmp_path / "bad.zarr").mkdir()
    (tmp_path / "bad.zarr/zarr.json").write_text('{"zarr_format": 3, "node_')
    with pytest.raises(StoreError, match=r"^store .*bad.zarr cannot be opened \("):
        open_group(tmp_path / "bad.zarr")


def test_every_store_opens_with_xarray(tmp_path):
    xr = pytest.importorskip("xarray")
    rng = np.random.default_rng(4)
    ids = rng.integers(0, 9, (3, 4, 8))
    write_arrays(
        tmp_path / "tokens.zarr",
        {"input_ids": ids, "attention_mask": ids > 2},
        {"dataset": "d", "tokens_sha256": ["a", "b", "c"]},
        dict.fromkeys(["input_ids", "attention_mask"], (1, 4, 8)),
        dict.fromkeys(["input_ids", "attention_mask"], ("batch", "document", "position")),
    )
    write_arrays(tmp_path / "noise.zarr", {"distances": rng.random(5), "other": rng.random((2, 5))}, {"n": 2})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consolidated metadata: no "falling back" warning
        tokens = xr.open_zarr(tmp_path / "tokens.zarr")
    assert dict(tokens.sizes) == {"batch": 3, "document": 4, "position": 8}
    np.testing.assert_array_equal(tokens["input_ids"].values, ids)
    np.testing.assert_array_equal(tokens["attention_mask"].values, ids > 2)
    assert tokens.attrs["tokens_sha256"] == ["a", "b", "c"]
    noise = xr.open_zarr(tmp_path / "noise.zarr")  # no dims given: distinct default names, never aligned
    assert noise["distances"].dims == ("distances_0",) and noise["other"].dims == ("other_0", "other_1")
    group = zarr.open_group(str(tmp_path / "tokens.zarr"), mode="r", use_consolidated=True)
    assert group.metadata.consolidated_metadata is not None
