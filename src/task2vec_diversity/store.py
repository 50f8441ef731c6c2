"""Zarr stores: written atomically and verified when read. The only way the workflow writes
or reads its arrays (token batches, embeddings, distance matrices, and any store added later).

Written atomically: a store is built under a temporary name and renamed into place when
complete, so a killed job never leaves a half-written store behind.

Verified when read: each array records, in its own attributes (``checksum``), its shape, its
dtype and the SHA-256 of its values, one hash per block of ``block_rows`` rows along the first
axis (one block per chunk row of a 2-d or higher array, the whole of a 1-d one); the group's
attributes (the result's provenance) carry the SHA-256 of the rest of them (``checksum``).
Every read through :func:`open_group` or :func:`read_array` checks the attributes and hashes
the blocks it reads: edited provenance, a missing chunk (Zarr reads it as the fill value), a
truncated or corrupt one (a decode error) or changed values stop with one line
(:class:`StoreError`) naming the store and what to delete. Reading a few rows (one batch of a
tokens store) reads and hashes their blocks only.

Tables are verified the same way: a dataset's pool (``documents.parquet``) carries the
SHA-256 of its rows and attributes in its own attributes (:func:`write_table`,
:func:`read_table`), and a batches' manifest (``manifest.tsv``) has its SHA-256 in the
attributes of the tokens store beside it (:func:`write_manifest`, :func:`read_manifest`).

Loadable in a notebook: every array carries zarr v3 ``dimension_names`` and each store has
consolidated metadata, so ``xarray.open_zarr(path)`` opens it (lazily and without the
checksums: :mod:`task2vec_diversity.results` loads verified copies)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr

from .errors import StoreError

CHECKSUM = "checksum"  # the array attribute holding shape, dtype and block hashes


@contextmanager
def atomic_group(path: str | Path):
    """Yield a new Zarr group that appears at ``path`` only when the block succeeds (with
    consolidated metadata)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield zarr.open_group(str(tmp), mode="w")
        with warnings.catch_warnings():  # "consolidated metadata is not part of the v3 specification (yet)"
            warnings.simplefilter("ignore")
            zarr.consolidate_metadata(str(tmp))
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _digest(block: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(block).reshape(-1).view(np.uint8)).hexdigest()


def checksum(data: np.ndarray, block_rows: int) -> dict:
    """Shape, dtype and the SHA-256 of each block of ``block_rows`` rows of ``data``."""
    if data.dtype.hasobject:
        raise TypeError("stores hold numeric arrays only")
    n = data.shape[0] if data.ndim else 1
    block_rows = max(1, int(block_rows))
    flat = data.reshape(1) if data.ndim == 0 else data
    blocks = [_digest(flat[start : start + block_rows]) for start in range(0, max(n, 1), block_rows)]
    return {
        "algorithm": "sha256",
        "shape": list(data.shape),
        "dtype": data.dtype.str,
        "block_rows": block_rows,
        "blocks": blocks,
    }


def write_arrays(
    path: str | Path,
    arrays: dict[str, np.ndarray],
    attrs: dict,
    chunks: dict | None = None,
    dims: dict | None = None,
) -> None:
    """Write named arrays and JSON attributes as one Zarr group, each array with its
    checksum and its dimension names (``dims[name]``; default ``<name>_0``, ``<name>_1``...:
    distinct, so that xarray never aligns unrelated axes)."""
    with atomic_group(path) as group:
        for name, data in arrays.items():
            data = np.asarray(data)
            names = tuple((dims or {}).get(name) or (f"{name}_{axis}" for axis in range(data.ndim)))
            array = group.create_array(
                name,
                data=data,
                chunks=(chunks or {}).get(name, "auto"),
                dimension_names=names,
                config={"write_empty_chunks": True},  # every chunk on disk: a missing one is a fault
            )
            rows = array.chunks[0] if data.ndim >= 2 else (data.shape[0] if data.ndim else 1)
            array.attrs[CHECKSUM] = checksum(data, rows)
        group.attrs.update(attrs)
        # the provenance as it reads back (JSON), hashed: an edited attribute is a fault
        group.attrs[CHECKSUM] = {"algorithm": "sha256", "attributes": attributes_sha256(dict(group.attrs))}


def attributes_sha256(attrs: dict) -> str:
    """SHA-256 of a result's attributes (its provenance) other than ``checksum``, as JSON."""
    rest = {k: v for k, v in attrs.items() if k != CHECKSUM}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _say(error: Exception) -> str:
    """An exception in one line."""
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text[:200]}"


def _fault(path, problem: str) -> StoreError:
    return StoreError(f"store {path} {problem}; delete {path} and run the workflow again to recompute it")


class Array:
    """A stored array whose reads are verified against its checksum. Index it like a numpy
    array (``a[:]``, ``a[i]``, ``a[i:j, ...]``); only the blocks holding the rows asked for
    are read."""

    def __init__(self, store_path, name: str, array):
        self.store_path, self.name, self._array = store_path, name, array
        record = dict(array.attrs).get(CHECKSUM)
        if not isinstance(record, dict) or not {"shape", "dtype", "block_rows", "blocks"} <= set(record):
            raise _fault(store_path, f"(array '{name}') has no checksum (written by an older version of the workflow)")
        if list(array.shape) != list(record["shape"]) or np.dtype(record["dtype"]) != array.dtype:
            raise _fault(
                store_path,
                f"(array '{name}') is {array.dtype} {list(array.shape)} but was written as "
                f"{np.dtype(record['dtype'])} {record['shape']}",
            )
        self._record = record
        self.shape, self.dtype = tuple(array.shape), array.dtype
        self.dims = tuple(array.metadata.dimension_names or ())
        self.attrs = {k: v for k, v in dict(array.attrs).items() if k != CHECKSUM}

    def __len__(self) -> int:
        return self.shape[0]

    def _rows(self, key) -> tuple[range, object, object]:
        """The rows of the first axis that ``key`` reads, the first axis' index within them,
        and the rest of the key."""
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        n = self.shape[0]
        if first is Ellipsis:
            first, rest = slice(None), (Ellipsis, *rest)
        if isinstance(first, (int, np.integer)):
            i = int(first) + n if first < 0 else int(first)
            if not 0 <= i < n:
                raise IndexError(f"index {first} is out of range for {self.name} of {n} rows")
            return range(i, i + 1), 0, rest
        if isinstance(first, slice):
            rows = range(n)[first]
            if not len(rows):
                return range(0), slice(0, 0), rest
            low, high = min(rows), max(rows) + 1
            local = slice(None) if rows.step == 1 else np.asarray(rows) - low
            return range(low, high), local, rest
        raise TypeError(f"{self.name}: index the first axis with an integer or a slice")

    def read(self, low: int = 0, high: int | None = None) -> np.ndarray:
        """Rows ``low:high`` of the first axis (all of them by default), verified."""
        n = self.shape[0] if self.shape else 1
        high = n if high is None else high
        size = self._record["block_rows"]
        first, last = low // size, max(low, high - 1) // size
        start, stop = first * size, min(n, (last + 1) * size)
        try:
            data = self._array[...] if not self.shape else self._array[start:stop]
        except Exception as error:  # a truncated or corrupt chunk: the codec's error names no store
            raise _fault(self.store_path, f"(array '{self.name}') cannot be decoded ({_say(error)})") from None
        data = np.asarray(data)
        flat = data.reshape(1) if data.ndim == 0 else data
        for k, block in enumerate(range(first, last + 1)):
            if _digest(flat[k * size : (k + 1) * size]) != self._record["blocks"][block]:
                raise _fault(self.store_path, f"(array '{self.name}') does not match its checksum ({self._why()})")
        return data if not self.shape else data[low - start : high - start]

    def _why(self) -> str:
        try:
            missing = self._array.nchunks - self._array.nchunks_initialized
        except Exception:  # noqa: BLE001 - only for the message
            missing = 0
        if missing:
            return f"{missing} of {self._array.nchunks} chunks missing"
        return "its values changed since it was written"

    def __getitem__(self, key):
        if not self.shape:
            return self.read()[key]
        rows, first, rest = self._rows(key)
        if not len(rows):
            return np.empty((0, *self.shape[1:]), dtype=self.dtype)[(slice(None), *rest)]
        data = self.read(rows.start, rows.stop)
        return data[(first, *rest)]

    def __array__(self, dtype=None, copy=None):
        data = self.read()
        return data if dtype is None else data.astype(dtype)


class Group:
    """A store opened for reading: its attributes (a dict) and its arrays (verified reads)."""

    def __init__(self, path):
        self.path = path
        try:
            self._group = zarr.open_group(str(path), mode="r")
            attrs = dict(self._group.attrs)
            self._names = sorted(self._group.array_keys())
        except Exception as error:  # missing, or its metadata unreadable
            if not Path(path).exists():
                raise StoreError(f"store {path} does not exist; run the workflow again to compute it") from None
            raise _fault(path, f"cannot be opened ({_say(error)})") from None
        record = attrs.pop(CHECKSUM, None)
        if not isinstance(record, dict) or "attributes" not in record:
            raise _fault(path, "has no checksum of its attributes (written by an older version of the workflow)")
        if record["attributes"] != attributes_sha256(attrs):
            raise _fault(path, "has attributes (its provenance) that do not match their checksum (edited?)")
        self.attrs = attrs
        self._arrays: dict[str, Array] = {}

    def __contains__(self, name) -> bool:
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def keys(self) -> list[str]:
        return list(self._names)

    def __getitem__(self, name: str) -> Array:
        if name not in self._arrays:
            if name not in self._names:
                raise _fault(self.path, f"has no array '{name}' (it holds {', '.join(self._names) or 'none'})")
            self._arrays[name] = Array(self.path, name, self._group[name])
        return self._arrays[name]


def open_group(path: str | Path) -> Group:
    """Open a store for verified reads."""
    return Group(path)


def read_array(path: str | Path, name: str) -> tuple[np.ndarray, dict]:
    """One array of a store, verified, and the store's attributes."""
    group = open_group(path)
    return group[name][:], group.attrs


# --- tables: a dataset's pool (parquet) and a batches' manifest (TSV), verified like the stores ---


def _value_bytes(value) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, np.ndarray):
        return value.dtype.str.encode() + str(value.shape).encode() + np.ascontiguousarray(value).tobytes()
    return json.dumps(value.item() if isinstance(value, np.generic) else value, default=str).encode()


def table_sha256(frame) -> str:
    """SHA-256 of a table's columns, rows and attributes (other than ``checksum``)."""
    sha = hashlib.sha256(json.dumps([[str(c) for c in frame.columns], len(frame)]).encode())
    for column in frame.columns:
        for value in frame[column]:
            data = _value_bytes(value)
            sha.update(len(data).to_bytes(8, "little") + data)
    sha.update(attributes_sha256(frame.attrs).encode())
    return sha.hexdigest()


def write_table(frame, path: str | Path) -> None:
    """Write a table (a dataset's pool) as parquet, its ``attrs`` with the SHA-256 of its rows
    and attributes as they read back, atomically (a temporary name, renamed into place)."""
    import pyarrow as pa

    frame = frame.copy()
    frame.attrs = {k: v for k, v in json.loads(json.dumps(frame.attrs)).items() if k != CHECKSUM}
    back = pa.Table.from_pandas(frame, preserve_index=False).to_pandas()  # the values as read_table gets them
    back.attrs = frame.attrs
    frame.attrs[CHECKSUM] = {"algorithm": "sha256", "table": table_sha256(back)}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        frame.to_parquet(tmp, index=False)  # pandas keeps attrs in the parquet file
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _table_fault(path, problem: str, what: str) -> StoreError:
    return StoreError(f"{path} {problem}; delete {path} and run the workflow again to {what}")


def read_table(path: str | Path, what: str = "prepare it again"):
    """A table written by :func:`write_table`, verified: rows and attributes match the
    checksum it was written with, else StoreError with one line saying what to delete."""
    import pandas as pd

    try:
        frame = pd.read_parquet(path)
    except FileNotFoundError:
        raise StoreError(f"{path} does not exist; run the workflow again to make it") from None
    except Exception as error:  # noqa: BLE001 - a truncated or corrupt file
        raise _table_fault(path, f"cannot be read ({_say(error)})", what) from None
    record = frame.attrs.pop(CHECKSUM, None)
    if not isinstance(record, dict) or "table" not in record:
        raise _table_fault(path, "has no checksum (written by an older version of the workflow)", what)
    if record["table"] != table_sha256(frame):
        raise _table_fault(path, "does not match its checksum (rows or attributes changed since it was written)", what)
    return frame


def write_manifest(frame, path: str | Path) -> str:
    """Write a manifest as TSV and return its SHA-256 (recorded in the tokens store beside it)."""
    data = frame.to_csv(sep="\t", index=False).encode()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def read_manifest(path: str | Path):
    """A batches' manifest, verified against the SHA-256 in the tokens store beside it."""
    import io

    import pandas as pd

    path = Path(path)
    tokens = path.with_name("tokens.zarr")
    expected = open_group(tokens).attrs.get("manifest_sha256")
    data = path.read_bytes()
    if expected is None:
        raise StoreError(
            f"{tokens} records no checksum of {path} (written by an older version of the workflow); delete "
            f"{tokens} and run the workflow again to sample the batches again"
        )
    if hashlib.sha256(data).hexdigest() != expected:
        raise StoreError(
            f"{path} does not match its checksum in {tokens} (edited?); delete {tokens} and run the workflow "
            "again to sample the batches again (bitwise the same tokens)"
        )
    return pd.read_csv(io.BytesIO(data), sep="\t")
