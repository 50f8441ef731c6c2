"""Config validation and the install files."""

import re
from pathlib import Path

import pytest
import yaml

from task2vec_diversity.config import embedding_spec, validate
from task2vec_diversity.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def minimal(**extra):
    return {
        "probe": {"id": "gpt2"},
        "datasets": {"c4": {"source": "hub", "path": "allenai/c4", "text_field": "text"}},
        **extra,
    }


def test_defaults_are_the_papers_setting():
    config = validate(minimal())
    assert config["task2vec"] == {
        "variant": "reference",
        "epochs": 10,
        "lr": 5e-5,
        "eps": 1e-8,
        "weight_decay": 1e-4,
        "minibatch_size": 8,
        "finetune": True,
        "seed": 42,
        "device": "auto",
    }
    assert config["datasets"]["c4"]["sampling"]["n_batches"] == 200
    assert config["datasets"]["c4"]["sampling"]["batch_size"] == 512
    assert config["datasets"]["c4"]["sampling"]["max_length"] == 128


@pytest.mark.parametrize(
    "config, message",
    [
        (minimal(task2vec={"epoch": 3}), "unknown key 'epoch' in 'task2vec'"),
        (minimal(colour="red"), "unknown key 'colour' in 'config'"),
        (minimal(task2vec={"variant": "fast"}), "'task2vec.variant' must be one of reference, exact"),
        ({"datasets": {"a": {"source": "lower_bound"}}}, "'probe.id' is missing"),
        (minimal(datasets={"a": {"source": "web"}}), "'datasets.a.source' must be one of"),
        (minimal(datasets={"a": {"source": "files", "files": ["x.csv"]}}), "cannot be told from 'x.csv'"),
        (minimal(datasets={"a": {"source": "ginc", "n_documents": 1}}), "yields 80 sequences"),
    ],
)
def test_bad_config_is_one_line(config, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        validate(config)
    assert "\n" not in str(error.value)


def test_identity_excludes_the_device_only():
    a = embedding_spec(validate(minimal(task2vec={"device": "cpu"})))
    b = embedding_spec(validate(minimal(task2vec={"device": "cuda"})))
    c = embedding_spec(validate(minimal(task2vec={"variant": "exact"})))
    assert a == b and a != c


def test_demo_config_is_valid():
    validate(yaml.safe_load((ROOT / "config/config.yaml").read_text()))


def _name(requirement: str) -> str:
    return re.split(r"[=<>\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_conda_env_pins_the_same_packages_as_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((ROOT / "envs/task2vec.yaml").read_text())["dependencies"]
    pip = next(item["pip"] for item in env if isinstance(item, dict))
    assert sorted(pip) == sorted(project)
    assert {_name(r) for r in pip} == {_name(r) for r in project}
