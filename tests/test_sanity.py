"""Scientific sanity on a small version of the demo config (docs/method.md#bounds and #ginc,
docs/noise-floor.md): diversity rises with the number of GINC latent concepts and stays below
the upper bound; most of every coefficient is the estimator's noise floor, and the lower bound,
the most diverse of the five with this probe, is so above its noise floor too and for the
activation baseline as well (its batches differ to the probe: each repeats other tokens)."""

import copy
import dataclasses

import numpy as np
import pytest
import torch
import yaml

from task2vec_diversity import config as cfg
from task2vec_diversity.activations import cosine_distances, mean_hidden_states
from task2vec_diversity.batches import sample
from task2vec_diversity.coefficients import coefficient
from task2vec_diversity.distance import distance_matrix
from task2vec_diversity.noise import noise_distances, repeat_seed
from task2vec_diversity.probe import build_probe, load_model, load_tokenizer
from task2vec_diversity.sources import prepare
from task2vec_diversity.task2vec import Settings, embed

from .test_config import ROOT

NOISE_DATASETS = ("lower_bound", "ginc_1_concept", "ginc_64_concepts")
NOISE_BATCHES = 3  # each embedded once more with another seed


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Per demo dataset with 6 batches, computed in-process: the diversity coefficient, the
    activation baseline and, for three of them, the noise floor (3 batches, one other seed)."""
    config = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    config["sampling"]["n_batches"] = 6
    config["task2vec"]["embeddings_per_job"] = 1
    config = cfg.validate(config)
    probe_dir = tmp_path_factory.mktemp("probe")
    build_probe(config["probe"]["build"], probe_dir)
    probe = {**cfg.probe_spec(config), "id": str(probe_dir)}
    tokenizer, model = load_tokenizer(probe), load_model(probe)
    settings = Settings(**cfg.embedding_spec(config, "lower_bound")["task2vec"])
    other = dataclasses.replace(settings, seed=repeat_seed(settings.seed, 1))
    torch.set_num_threads(2)
    out = {"diversity": {}, "noise_floor": {}, "activation": {}}
    for name, spec in config["datasets"].items():
        arrays, _, _ = sample(name, prepare(name, spec, tokenizer), spec["sampling"], tokenizer)
        tokens = [
            (
                torch.as_tensor(arrays["input_ids"][i], dtype=torch.long),
                torch.as_tensor(arrays["attention_mask"][i], dtype=torch.long),
            )
            for i in range(spec["sampling"]["n_batches"])
        ]

        def embedding(i, settings, tokens=tokens):
            return embed(copy.deepcopy(model), *tokens[i], settings, i, tokenizer.eos_token_id).vector

        vectors = np.stack([embedding(i, settings) for i in range(len(tokens))])
        out["diversity"][name] = coefficient(distance_matrix(vectors), replicates=200).value
        if name in NOISE_DATASETS:
            again = np.stack([embedding(i, other) for i in range(NOISE_BATCHES)])
            out["noise_floor"][name] = noise_distances(np.stack([vectors[:NOISE_BATCHES], again], axis=1)).mean()
        means = np.stack([mean_hidden_states(copy.deepcopy(model), *batch) for batch in tokens])
        out["activation"][name] = coefficient(cosine_distances(means), replicates=200).value
    return out


def test_ginc_diversity_rises_with_concepts_below_the_upper_bound(measured):
    d = measured["diversity"]
    assert d["ginc_1_concept"] < d["ginc_4_concepts"] < d["ginc_64_concepts"] < d["upper_bound"]


def test_most_of_each_coefficient_is_its_noise_floor_and_the_lower_bounds_is_the_highest(measured):
    """The demo's 5 x 2 re-embeddings: floors 59-78% of the coefficients, lower bound 0.084
    against GINC 0.030-0.032 (docs/noise-floor.md)."""
    d, floor = measured["diversity"], measured["noise_floor"]
    for name in NOISE_DATASETS:
        assert 0.4 * d[name] < floor[name] < d[name]
    assert floor["lower_bound"] > 2 * max(floor["ginc_1_concept"], floor["ginc_64_concepts"])


def test_the_lower_bound_is_the_most_diverse_above_its_noise_floor_and_for_the_activations(measured):
    """Not only estimator noise: its batches (64 sequences, each one repeated token of 50)
    differ in which tokens they repeat, and the probe's own activations say the same."""
    d, floor, act = measured["diversity"], measured["noise_floor"], measured["activation"]
    above = {name: d[name] - floor[name] for name in NOISE_DATASETS}
    assert above["lower_bound"] > above["ginc_1_concept"]  # the demo's intervals do not overlap
    assert act["lower_bound"] == max(act.values())
    assert act["lower_bound"] > 10 * max(v for k, v in act.items() if k != "lower_bound")
