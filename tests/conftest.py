"""Shared fixtures: a tiny probe built locally and loaded through from_pretrained."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from task2vec_diversity.config import PROBE_BUILD_DEFAULTS

# subprocesses the tests start (scripts, python -c) import this checkout's library too, not an
# installed copy of another checkout (pytest's own pythonpath setting reaches only this process)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(__file__).parents[1] / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
)

TINY_BUILD = {**PROBE_BUILD_DEFAULTS, "n_symbols": 20, "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 16}


@pytest.fixture(scope="session")
def tiny_probe(tmp_path_factory):
    """Probe spec of a 1-layer GPT-2 with a word-level tokenizer, saved with save_pretrained."""
    from task2vec_diversity.probe import build_probe

    path = tmp_path_factory.mktemp("probe")
    build_probe(TINY_BUILD, path)
    return {"id": str(path), "revision": None, "init": "pretrained", "init_seed": 0, "build": TINY_BUILD}


@pytest.fixture(scope="session")
def text_probe(tmp_path_factory):
    """Probe spec of a 1-layer GPT-2 with a byte-level BPE tokenizer trained here on test text,
    both saved with save_pretrained: loaded exactly as a hub id is."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("text_probe")
    words = "the of and to in is was for on that with as by at from his her an are were which".split()
    corpus = [" ".join(words[(i * k) % len(words)] for k in range(3, 30)) for i in range(200)]
    backend = ByteLevelBPETokenizer()
    backend.train_from_iterator(corpus, vocab_size=300, special_tokens=["<|endoftext|>"])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>")
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=16, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return {"id": str(path), "revision": None, "init": "pretrained", "init_seed": 0, "build": None}


# the preprocessing of microsoft/resnet-18 (its preprocessor_config.json on the hub), at 32 pixels
RESNET_PREPROCESSOR = {
    "crop_pct": 0.875,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "ConvNextFeatureExtractor",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "resample": 3,
    "size": 32,
}


def save_image_probe(path, seed: int = 0) -> dict:
    """A 2-stage ResNet (basic blocks, widths 8 and 16) with random weights and the image
    processor of microsoft/resnet-18, saved with save_pretrained: loaded as a hub id is."""
    import json

    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    config = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic", num_labels=1000)
    ResNetForImageClassification(config).save_pretrained(path)
    (path / "preprocessor_config.json").write_text(json.dumps(RESNET_PREPROCESSOR))
    return {"id": str(path), "revision": None, "init": "pretrained", "init_seed": 0, "build": None}


@pytest.fixture(scope="session")
def image_probe(tmp_path_factory):
    return save_image_probe(tmp_path_factory.mktemp("image_probe"))
