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
from task2vec_diversity.store import (
    open_group,
    read_array,
    read_manifest,
    read_table,
    write_arrays,
    write_manifest,
    write_table,
)

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
    root = json.loads((store / "zarr.json").read_text())
    root.pop("consolidated_metadata")  # the array's own metadata is read
    (store / "zarr.json").write_text(json.dumps(root))
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


@pytest.mark.parametrize(
    "key, value", [("probe_revision", "0" * 40), ("identity", {"variant": "exact"}), ("batch_size", 64)]
)
def test_edited_provenance_is_refused(tmp_path, key, value):
    """Issue 25 case 5: a store's attributes are inside its checksum, so an edited provenance
    (as a hand edit of zarr.json makes it) stops with one line instead of reaching the report."""
    store = tmp_path / "batch0000.zarr"
    attrs = {"probe_revision": "a" * 40, "identity": {"variant": "reference"}, "batch_size": 4, "loss": float("nan")}
    write_arrays(store, {"embedding": np.arange(5.0)}, attrs)
    assert open_group(store).attrs["batch_size"] == 4  # NaN and all: what was written reads back
    root = json.loads((store / "zarr.json").read_text())
    root["attributes"][key] = value
    (store / "zarr.json").write_text(json.dumps(root))
    with pytest.raises(StoreError) as error:
        read_array(store, "embedding")
    assert str(error.value) == (
        f"store {store} has attributes (its provenance) that do not match their checksum (edited?); "
        f"delete {store} and run the workflow again to recompute it"
    )


def test_an_edited_pool_or_manifest_is_refused(tmp_path):
    """Issue 25 case 4: one text of documents.parquet changed by hand, or a row of manifest.tsv,
    stops with one line saying what to delete, where the run used to go on with the edited pool."""
    import pandas as pd

    pool = pd.DataFrame({"document_id": ["0", "1"], "text": ["a b", "c d"], "sha256": ["x", "y"]})
    pool.attrs = {"files_sha256": {"d.jsonl": "f" * 64}, "empty_dropped": None}
    path = tmp_path / "documents.parquet"
    write_table(pool, path)
    pd.testing.assert_frame_equal(read_table(path), pool)
    assert read_table(path).attrs == pool.attrs
    for edit in ("text", "attrs"):
        write_table(pool, path)
        edited = pd.read_parquet(path)
        if edit == "text":
            edited.loc[1, "text"] = "c e"
        else:
            edited.attrs["files_sha256"] = {"d.jsonl": "0" * 64}
        edited.to_parquet(path)
        with pytest.raises(StoreError, match=rf"^{path} does not match its checksum .*; delete {path} and run"):
            read_table(path)
    pool.to_parquet(path)  # written without a checksum (an older version)
    with pytest.raises(StoreError, match="has no checksum"):
        read_table(path)

    manifest, tokens = tmp_path / "manifest.tsv", tmp_path / "tokens.zarr"
    sha = write_manifest(pool[["document_id", "sha256"]], manifest)
    write_arrays(tokens, {"input_ids": np.zeros((2, 3))}, {"manifest_sha256": sha})
    assert list(read_manifest(manifest).document_id) == [0, 1]
    manifest.write_text(manifest.read_text().replace("\n1\t", "\n7\t"))
    with pytest.raises(StoreError, match=rf"^{manifest} does not match its checksum in {tokens} \(edited\?\); delete"):
        read_manifest(manifest)


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


def test_a_finished_runs_results_are_read_from_the_layout(tmp_path):
    """results.py finds what the rules wrote where paths.py puts it: a dataset's stores in batch
    order, and a cross matrix stored once (rows: the dataset first in the config) turned for
    either dataset, in a results folder of any name."""
    from task2vec_diversity import paths, results

    run = tmp_path / "run1"
    folder = paths.inside(run, paths.EMBEDDINGS.format(dataset="b", key="0123456789ab"))
    for i in (10, 2, 0, 1):  # written out of order: batch0010 after batch0002
        write_arrays(paths.batch_store(str(folder), i), {"embedding": np.full(3, float(i))}, {"batch": i})
    assert [results.embedding_stores(run, "b")[i].name for i in (0, 3)] == ["batch0000.zarr", "batch0010.zarr"]
    cross = np.arange(6.0).reshape(2, 3)  # a's 2 batches x b's 3
    stored = paths.inside(run, paths.matrix_path("b", "a", ["a", "b"]))
    write_arrays(stored, {"distances": cross}, {"rows": {"dataset": "a"}, "columns": {"dataset": "b"}})
    assert stored == run / "distances/cross/a/b.zarr"
    turned = results.distances(run, "b", "a")
    np.testing.assert_array_equal(turned.values, cross.T)
    assert turned.attrs["rows"]["dataset"] == "b"
    np.testing.assert_array_equal(results.distances(run, "a", "b").values, cross)
