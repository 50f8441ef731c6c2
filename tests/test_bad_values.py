"""Every wrong value is refused at parse, before any job, with one line naming the key, the
value and the fix (issue 15 item 4). The configs are YAML text, read as Snakemake reads them."""

import io
import json

import pytest
import yte

from task2vec_diversity.config import validate
from task2vec_diversity.errors import ConfigError

BASE = """
probe: {build: {n_symbols: 20, n_layer: 1, n_embd: 16, n_head: 2, n_positions: 16}}
task2vec: {embeddings_per_job: 1}
sampling: {n_batches: 2, batch_size: 4, max_length: 16}
datasets:
  u: {source: upper_bound}
"""


def read(text: str) -> dict:
    return yte.process_yaml(io.StringIO(text), require_use_yte=True)  # Snakemake's config reader


def with_(extra: str) -> dict:
    """BASE with the sections of ``extra`` merged over it (one level deep)."""
    config, more = read(BASE), read(extra)
    for key, value in more.items():
        config[key] = {**config[key], **value} if isinstance(config.get(key), dict) else value
    return config


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            'task2vec: {finetune: "false"}',
            "'task2vec.finetune' must be true or false, got 'false' (a string, because of the quotes: write false",
        ),
        (
            "sampling: {reuse_documents: 'no'}",
            "'sampling.reuse_documents' must be true or false, got 'no' (a string, because of the quotes: write false",
        ),
        ("task2vec: {lr: 1e-4}", "'task2vec.lr' must be a positive number, got '1e-4' (a string: YAML 1.1 reads"),
        ("task2vec: {weight_decay: 1e4}", "got '1e4' (a string: YAML 1.1 reads 1e4 as text; write 1.0e+4)"),
        ("task2vec: {seed: 'abc'}", "'task2vec.seed' must be a non-negative integer, got 'abc'"),
        ("sampling: {seed: -1}", "'sampling.seed' must be a non-negative integer, got -1"),
        (
            "probe: {build: {pretrain_steps: '10'}}",
            "'probe.build.pretrain_steps' must be a non-negative integer, got '10' (a string, because of the quotes: "
            "write 10 without quotes)",
        ),
        (
            "datasets: {g: {source: ginc, n_concepts: '4'}}",
            "'datasets.g.n_concepts' must be a positive integer, got '4' (a string, because of the quotes: write 4",
        ),
        ("datasets: {g: {source: ginc, n_concepts: 0}}", "'datasets.g.n_concepts' must be a positive integer, got 0"),
        (
            "report: {bootstrap_replicates: '200'}",
            "'report.bootstrap_replicates' must be a positive integer, got '200' (a string, because of the quotes",
        ),
        ("report: {bootstrap_replicates: 0}", "'report.bootstrap_replicates' must be a positive integer, got 0"),
        (
            "sampling: {n_batches: 1}",
            "'sampling.n_batches' must be an integer >= 2 (a coefficient is a mean over pairs of batches), got 1",
        ),
        (
            "datasets: {d: {source: upper_bound, sampling: {n_batches: 1}}}",
            "'datasets.d.sampling.n_batches' must be an integer >= 2",
        ),
        (
            "sampling: {max_length: 32}",
            "'datasets.u.sampling.max_length' is 32 but the probe takes at most 16 tokens (its n_positions); set "
            "max_length to 16 or less",
        ),
        ("datasets: {123: {source: upper_bound}}", "a name in 'datasets' is read by YAML as the number 123; put the"),
        ("datasets: {yes: {source: upper_bound}}", "a name in 'datasets' is read by YAML as the boolean true (yes, no"),
        ("datasets: {'a b': {source: upper_bound}}", "name 'a b' in 'datasets' must be a name of letters, digits"),
    ],
)
def test_bad_value_is_refused_at_parse_with_one_line(extra, message):
    with pytest.raises(ConfigError) as error:
        validate(with_(extra))
    assert message in str(error.value)
    assert str(error.value).startswith("config: ") and "\n" not in str(error.value)


def test_the_yaml_11_spelling_of_a_float_is_accepted():
    assert validate(with_("task2vec: {lr: 1.0e-4}"))["task2vec"]["lr"] == 1e-4


def test_max_length_is_checked_against_a_local_probe_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_positions": 8}))
    config = with_("sampling: {max_length: 16}")
    config["probe"] = {"id": str(tmp_path)}
    with pytest.raises(ConfigError, match="'datasets.u.sampling.max_length' is 16 but the probe takes at most 8"):
        validate(config)
    config["sampling"]["max_length"] = 8
    assert validate(config)["datasets"]["u"]["sampling"]["max_length"] == 8
    config["probe"] = {"id": "gpt2"}  # a hub id: checked in the job that first has the probe
    config["sampling"]["max_length"] = 4096
    validate(config)


def test_a_probes_length_is_read_from_its_config(tiny_probe):
    """What sample_batches checks max_length against for a hub probe, once it is here."""
    from task2vec_diversity.config import check_length
    from task2vec_diversity.probe import max_positions

    assert max_positions(tiny_probe) == 16
    with pytest.raises(ConfigError, match="'datasets.d.sampling.max_length' is 17 but the probe takes at most 16"):
        check_length("d", 17, max_positions(tiny_probe))
