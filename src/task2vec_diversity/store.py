"""Zarr stores, written atomically: a store is built under a temporary name and renamed
into place when complete, so a killed job never leaves a half-written store behind."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import zarr


@contextmanager
def atomic_group(path: str | Path):
    """Yield a new Zarr group that appears at ``path`` only when the block succeeds."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield zarr.open_group(str(tmp), mode="w")
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_arrays(path: str | Path, arrays: dict[str, np.ndarray], attrs: dict, chunks: dict | None = None) -> None:
    """Write named arrays and JSON attributes as one Zarr group."""
    with atomic_group(path) as group:
        for name, data in arrays.items():
            group.create_array(name, data=np.asarray(data), chunks=(chunks or {}).get(name, "auto"))
        group.attrs.update(attrs)


def open_group(path: str | Path):
    return zarr.open_group(str(path), mode="r")


def read_array(path: str | Path, name: str) -> tuple[np.ndarray, dict]:
    group = open_group(path)
    return group[name][:], dict(group.attrs)
