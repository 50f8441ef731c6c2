import itertools

import numpy as np
import pytest

from task2vec_diversity.ginc import (
    GincSpec,
    _sample_states,
    concept_parameters,
    documents_as_text,
    emission_table,
    generate_documents,
    value_transition,
    vocabulary,
)


def small(**overrides):
    fields = {"n_concepts": 5, "n_documents": 20, "document_length": 64}
    fields.update(overrides)
    return GincSpec(**fields)


def test_vocabulary_order_and_size():
    words = vocabulary(30)
    assert len(words) == 30
    assert words[:4] == ["/", "a", "b", "c"]
    assert words[26] == "z"
    assert words[27:29] == ["ab", "ac"]
    assert len(set(words)) == 30


def test_vocabulary_large():
    words = vocabulary(20000)
    assert len(words) == 20000
    assert len(set(words)) == 20000
    assert words[1 + 26 + 26 * 25] == "abc"  # first 3-letter word
    assert all(len(set(w)) == len(w) for w in words[1:])


def test_emission_table():
    spec = small(n_symbols=37)
    table = emission_table(spec)
    assert table.shape == (spec.n_values, spec.n_slots)
    assert table.dtype == np.int64
    assert np.all(table[:, 0] == 0)
    assert np.all((table[:, 1:] >= 1) & (table[:, 1:] < 37))


def assert_stochastic(matrix):
    assert np.all(matrix >= 0)
    np.testing.assert_allclose(matrix.sum(axis=-1), 1.0)


def test_stochastic_matrices():
    spec = small(n_values=7, n_slots=4)
    value = value_transition(spec)
    assert value.shape == (7, 7)
    assert_stochastic(value)
    assert np.all(np.diag(value) >= spec.value_identity_coeff - 1e-12)
    for concept in range(spec.n_concepts):
        start, slot = concept_parameters(spec, concept)
        assert start.shape == (28,)
        assert slot.shape == (4, 4)
        assert_stochastic(start)
        assert_stochastic(slot)
    # Concepts differ in their slot transitions.
    assert not np.allclose(concept_parameters(spec, 0)[1], concept_parameters(spec, 1)[1])


def test_value_transition_is_shared_and_seeded():
    assert np.array_equal(value_transition(small(n_concepts=2)), value_transition(small(n_concepts=900)))
    assert not np.allclose(value_transition(small()), value_transition(small(seed=2)))


def test_peaked_transitions():
    # transition_temp 0.1 makes the permutation mixture dominated by one permutation.
    _, slot = concept_parameters(GincSpec(n_concepts=1), 0)
    assert slot.max(axis=1).mean() > 0.5


def test_determinism():
    a_symbols, a_concepts = generate_documents(small())
    b_symbols, b_concepts = generate_documents(small())
    assert np.array_equal(a_symbols, b_symbols)
    assert np.array_equal(a_concepts, b_concepts)
    c_symbols, _ = generate_documents(small(seed=2))
    assert not np.array_equal(a_symbols, c_symbols)


def test_output_shapes_and_range():
    spec = small(n_symbols=13)
    symbols, concepts = generate_documents(spec)
    assert symbols.shape == (20, 64)
    assert symbols.dtype == np.int32
    assert concepts.shape == (20,)
    assert symbols.min() >= 0 and symbols.max() < 13
    assert np.all((concepts >= 0) & (concepts < spec.n_concepts))


def test_concepts_are_nested():
    for a, b in zip(
        concept_parameters(small(n_concepts=3), 1),
        concept_parameters(small(n_concepts=500), 1),
    ):
        assert np.array_equal(a, b)


def test_concept_range_checked():
    with pytest.raises(ValueError, match="concept"):
        concept_parameters(small(n_concepts=3), 3)


def test_single_concept_and_many_concepts():
    _, concepts = generate_documents(small(n_concepts=1))
    assert np.all(concepts == 0)
    _, concepts = generate_documents(small(n_concepts=10000, n_documents=50))
    assert len(np.unique(concepts)) > 10


def empirical_transitions(states, n):
    counts = np.zeros((n, n))
    np.add.at(counts, (states[:, :-1].ravel(), states[:, 1:].ravel()), 1)
    return counts / counts.sum(axis=1, keepdims=True)


def test_sampled_paths_follow_the_chain():
    spec = GincSpec(n_concepts=3, n_values=4, n_slots=5, n_documents=400, document_length=1000)
    concepts = np.repeat([0, 2], 200)
    values, slots = _sample_states(spec, concepts, np.random.default_rng(0))
    assert values.shape == slots.shape == (400, 1000)
    np.testing.assert_allclose(empirical_transitions(values, 4), value_transition(spec), atol=0.01)
    for concept in (0, 2):
        _, slot = concept_parameters(spec, concept)
        rows = concepts == concept
        np.testing.assert_allclose(empirical_transitions(slots[rows], 5), slot, atol=0.01)
    # Start states: near-uniform start distribution, every component reachable.
    start_states = values[:, 0] * spec.n_slots + slots[:, 0]
    assert len(np.unique(start_states)) > 15


def test_start_distribution_is_followed():
    spec = GincSpec(
        n_concepts=1,
        n_values=2,
        n_slots=2,
        start_temp=0.2,
        n_documents=20000,
        document_length=1,
    )
    start, _ = concept_parameters(spec, 0)
    values, slots = _sample_states(spec, np.zeros(20000, dtype=int), np.random.default_rng(1))
    freq = np.bincount(values[:, 0] * 2 + slots[:, 0], minlength=4) / 20000
    np.testing.assert_allclose(freq, start, atol=0.015)


def test_symbols_are_emissions_of_the_paths():
    spec = small(n_concepts=4)
    symbols, concepts = generate_documents(spec)
    # Replay the document stream: same generator, same draws after the concepts.
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, 3]))
    assert np.array_equal(rng.integers(0, spec.n_concepts, size=spec.n_documents), concepts)
    values, slots = _sample_states(spec, concepts, rng)
    assert np.array_equal(symbols, emission_table(spec)[values, slots])
    assert np.array_equal(symbols == 0, slots == 0)


def test_documents_as_text():
    words = vocabulary(30)
    symbols = np.array([[0, 1, 27], [29, 0, 2]])
    assert documents_as_text(symbols, 30) == ["/ a ab", f"{words[29]} / b"]
    with pytest.raises(ValueError, match="symbols"):
        documents_as_text(np.array([[30]]), 30)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_concepts", 0),
        ("n_symbols", 1),
        ("n_values", 0),
        ("n_slots", 0),
        ("transition_temp", 0.0),
        ("start_temp", -1.0),
        ("value_identity_coeff", 1.5),
        ("value_identity_coeff", -0.1),
        ("n_documents", 0),
        ("document_length", 0),
        ("seed", -1),
    ],
)
def test_invalid_spec(field, value):
    fields = {"n_concepts": 2}
    fields[field] = value
    with pytest.raises(ValueError, match=field):
        GincSpec(**fields)


def test_vocabulary_matches_permutation_order():
    letters = "abcdefghijklmnopqrstuvwxyz"
    expected = [
        "/",
        *letters,
        *("".join(p) for p in itertools.permutations(letters, 2)),
    ]
    assert vocabulary(len(expected)) == expected
