"""Shared fixtures: a tiny probe built locally and loaded through from_pretrained."""

from __future__ import annotations

import pytest

from task2vec_diversity.config import PROBE_BUILD_DEFAULTS

TINY_BUILD = {**PROBE_BUILD_DEFAULTS, "n_symbols": 20, "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 16}


@pytest.fixture(scope="session")
def tiny_probe(tmp_path_factory):
    """Probe spec of a 1-layer GPT-2 with a word-level tokenizer, saved with save_pretrained."""
    from task2vec_diversity.probe import build_probe

    path = tmp_path_factory.mktemp("probe")
    build_probe(TINY_BUILD, path)
    return {"id": str(path), "revision": None, "init": "pretrained", "init_seed": 0, "build": TINY_BUILD}
