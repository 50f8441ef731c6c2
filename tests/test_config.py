"""Config validation and the install files."""

import re
from pathlib import Path

import pytest
import yaml

from task2vec_diversity.config import embedding_key, embedding_spec, validate
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
        "fisher_samples": 1,
        "precision": "fp32",
        "device": "auto",
        "embeddings_per_job": 10,
        "lockstep": 4,
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
        (
            minimal(task2vec={"embeddings_per_job": 0}),
            "'task2vec.embeddings_per_job' must be a positive integer, got 0",
        ),
        (minimal(pools={"p": {"datasets": ["c4", "wiki"]}}), "'pools.p.datasets' names 'wiki', which is not a"),
        (minimal(pools={"c4": {"datasets": ["c4", "c4"]}}), "pool 'c4' has the name of a dataset"),
        (minimal(alignment={"train": ["c4"]}), "'alignment.eval' is missing; set it to datasets on the evaluation"),
        (
            minimal(datasets={"a": {"source": "mix", "components": {"b": 1.0}}}),
            "mix 'a' names component 'b', which is not a hub or files dataset",
        ),
        (
            {
                "probe": {"id": "gpt2"},
                "datasets": {
                    "a": {"source": "lower_bound"},
                    "b": {"source": "upper_bound", "task2vec": {"variant": "exact"}},
                },
                "pools": {"ab": {"datasets": ["a", "b"]}},
            },
            "pools.ab mixes embeddings made with different task2vec.variant (a: 'reference', b: 'exact'); refusing",
        ),
        (
            {
                "probe": {"id": "gpt2"},
                "datasets": {
                    "a": {"source": "lower_bound"},
                    "b": {"source": "upper_bound", "sampling": {"batch_size": 8}},
                },
                "alignment": {"train": ["a"], "eval": ["b"]},
            },
            "alignment pair (a, b) mixes embeddings made with different sampling.batch_size (a: 512, b: 8)",
        ),
        (
            {
                "probe": {"id": "gpt2"},
                "datasets": {
                    "a": {"source": "lower_bound"},
                    "b": {"source": "upper_bound", "probe": {"id": "gpt2-medium"}},
                },
                "pools": {"ab": {"datasets": ["a", "b"]}},
            },
            "pools.ab mixes embeddings of different probes (a and b: probe.id 'gpt2' vs 'gpt2-medium'); refusing",
        ),
        (
            minimal(datasets={"g": {"source": "ginc", "n_symbols": 60, "probe": {"build": {"n_symbols": 50}}}}),
            "GINC dataset 'g' has 60 symbols but its built probe's tokenizer has 50; set datasets.g.probe.build",
        ),
        (minimal(sweeps={"s": {"dataset": {"source": "hub"}, "vary": "n_concepts", "values": [1, 2, 3]}}), "GINC"),
        (minimal(sweeps={"s": {"dataset": {"source": "ginc"}, "vary": "n_slots", "values": [1, 2, 3]}}), "vary"),
        (
            minimal(sweeps={"s": {"dataset": {"source": "ginc"}, "vary": "n_concepts", "values": [1, 2]}}),
            "'sweeps.s.values' must be a list of at least three different positive integers (a quadratic fit)",
        ),
        (
            minimal(
                datasets={"s_2": {"source": "lower_bound"}},
                sweeps={"s": {"dataset": {"source": "ginc"}, "vary": "n_concepts", "values": [1, 2, 3]}},
            ),
            "sweep 's' generates dataset 's_2', which already exists",
        ),
    ],
)
def test_bad_config_is_one_line(config, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        validate(config)
    assert "\n" not in str(error.value)


def test_identity_excludes_where_and_how_many_per_job_only():
    a = validate(minimal(task2vec={"device": "cpu"}))
    b = validate(minimal(task2vec={"device": "cuda", "embeddings_per_job": 100}))
    c = validate(minimal(task2vec={"variant": "exact"}))
    # any number a job, dividing n_batches or not (the last job embeds the rest)
    d = validate(minimal(task2vec={"embeddings_per_job": 7}, sampling={"n_batches": 25}))
    assert embedding_spec(a, "c4") == embedding_spec(b, "c4") == embedding_spec(d, "c4") != embedding_spec(c, "c4")
    assert embedding_key(a, "c4") == embedding_key(b, "c4") == embedding_key(d, "c4") != embedding_key(c, "c4")


def test_embedding_key_ignores_the_number_of_batches_and_cosmetics_only():
    base = minimal()
    more = minimal(sampling={"n_batches": 300})
    described = minimal()
    described["datasets"]["c4"].update(description="web text", paper_diversity=0.2374)
    other_length = minimal(sampling={"max_length": 64})
    other_split = minimal()
    other_split["datasets"]["c4"]["split"] = "validation"
    keys = [embedding_key(validate(c), "c4") for c in (base, more, described, other_length, other_split)]
    assert keys[0] == keys[1] == keys[2] and len(set(keys)) == 3


def _pool(a: dict, b: dict) -> dict:
    datasets = {"a": {"source": "lower_bound", **a}, "b": {"source": "upper_bound", **b}}
    return {"probe": {"id": "gpt2"}, "datasets": datasets, "pools": {"ab": {"datasets": ["a", "b"]}}}


def test_a_pool_of_two_seeds_is_refused_by_the_config_as_by_the_jobs():
    """The seed is part of the method (identity.comparable): the config refuses the pool at
    parse time, and the jobs' check, given the provenance these datasets would be embedded
    with, refuses it too."""
    from task2vec_diversity.errors import ProvenanceError
    from task2vec_diversity.provenance import check_comparable

    with pytest.raises(
        ConfigError, match=re.escape("pools.ab mixes embeddings made with different task2vec.seed (a: 42, b: 43)")
    ):
        validate(_pool({}, {"task2vec": {"seed": 43}}))
    config = validate(_pool({}, {"task2vec": {"seed": 43}}) | {"pools": {}})

    def provenance(name):
        sampling = config["datasets"][name]["sampling"]
        shape = {k: sampling[k] for k in ("batch_size", "max_length")}
        return {"identity": embedding_spec(config, name), "dataset": name, "probe_revision": "abc", **shape}

    with pytest.raises(ProvenanceError, match=re.escape("they differ in task2vec.seed: 42 vs 43")):
        check_comparable(provenance("a"), provenance("b"))


def test_a_pool_may_differ_in_which_documents_only():
    documents = {"sampling": {"seed": 1, "n_batches": 20, "reuse_documents": True}}
    assert validate(_pool({}, documents))["pools"]["ab"]["datasets"] == ["a", "b"]
    with pytest.raises(ConfigError, match=re.escape("different sampling.max_length (a: 128, b: 64)")):
        validate(_pool({}, {"sampling": {"max_length": 64}}))


def test_the_table_of_source_kinds_is_the_schemas():
    from task2vec_diversity import schema
    from task2vec_diversity.kinds import SOURCE_KINDS

    assert list(SOURCE_KINDS) == schema.section("dataset")["properties"]["source"]["enum"]


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


def test_configuration_docs_are_generated_from_the_schema():
    from task2vec_diversity import schema

    committed = (ROOT / "docs/configuration.md").read_text()
    assert schema.render(committed) == committed, (
        "docs/configuration.md is out of date: PYTHONPATH=src .venv/bin/python -m task2vec_diversity.schema "
        "docs/configuration.md"
    )
    for key, spec in schema.properties("task2vec").items():  # every key is documented, with its default
        assert f"| `task2vec.{key}` |" in committed
        assert f"`{schema._yaml(spec['default'])}`" in committed


def test_library_defaults_are_the_schemas():
    from task2vec_diversity import schema
    from task2vec_diversity.ginc import GincSpec
    from task2vec_diversity.identity import NEUTRAL_METHOD
    from task2vec_diversity.task2vec import Settings

    method = schema.defaults("task2vec_method")
    assert vars(Settings()) == {k: method[k] for k in vars(Settings())}
    # embed_shard rebuilds Settings from the identity, which leaves out the neutral values
    assert NEUTRAL_METHOD == {k: method[k] for k in NEUTRAL_METHOD}
    ginc = GincSpec(n_concepts=1)
    assert all(getattr(ginc, k) == v for k, v in schema.defaults("source_ginc").items() if k != "order")


@pytest.mark.parametrize("path", sorted((ROOT / "tests/configs").glob("*.yaml")), ids=lambda p: p.name)
def test_the_tests_workflow_configs_are_valid(path):
    assert validate(yaml.safe_load(path.read_text()))["datasets"]
