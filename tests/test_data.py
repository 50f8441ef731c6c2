"""Preparing datasets and sampling batches: sources, bounds, distinct batches, pad = EOS."""

import json

import numpy as np
import pandas as pd
import pytest

from task2vec_diversity.batches import batch_rows, sample
from task2vec_diversity.config import validate
from task2vec_diversity.errors import DataError
from task2vec_diversity.probe import build_tokenizer, load_tokenizer
from task2vec_diversity.sources import lower_bound, prepare, upper_bound

WORDS = "a b c d e f g h i j k l m n o p q r s".split()


def write_jsonl(path, texts, field="text"):
    path.write_text("".join(json.dumps({field: t, "meta": i}) + "\n" for i, t in enumerate(texts)))
    return str(path)


def dataset_spec(spec, n_batches=3, batch_size=4, **sampling):
    config = {
        "probe": {"id": "x"},
        "task2vec": {"embeddings_per_job": 1},
        "sampling": {"n_batches": n_batches, "batch_size": batch_size, "max_length": 8, **sampling},
        "datasets": {"d": spec},
    }
    return validate(config)["datasets"]["d"]


def texts(n, seed=0):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(2, 12))) for _ in range(n)]


def test_files_source_drops_empty_texts_and_keeps_ids(tmp_path):
    docs = texts(20)
    docs[3] = ""
    docs[7] = "   "
    spec = dataset_spec({"source": "files", "files": write_jsonl(tmp_path / "d.jsonl", docs)})
    pool = prepare("d", spec)
    assert len(pool) == 12
    assert not pool.text.str.strip().eq("").any()
    assert {"3", "7"}.isdisjoint(pool.document_id)
    for _, row in pool.iterrows():
        assert docs[int(row.document_id)] == row.text


@pytest.mark.parametrize("fmt", ["parquet", "txt"])
def test_parquet_and_text_files(tmp_path, fmt):
    docs = texts(15)
    path = tmp_path / f"d.{fmt}"
    if fmt == "parquet":
        pd.DataFrame({"content": docs}).to_parquet(path)
        spec = dataset_spec({"source": "files", "files": [str(path)], "text_field": "content"})
    else:
        path.write_text("\n".join(docs) + "\n\n")
        spec = dataset_spec({"source": "files", "files": [str(path)]})
    pool = prepare("d", spec)
    assert len(pool) == 12 and set(pool.text) <= set(docs)
    assert all(docs[int(i)] == t for i, t in zip(pool.document_id, pool.text))


def test_hub_source_streams_a_local_dataset_directory(tmp_path):
    """The hub code path (load_dataset(path, name, split, streaming=True) + shuffle buffer) on a local directory."""
    write_jsonl(tmp_path / "train.jsonl", texts(40))
    spec = dataset_spec({"source": "hub", "path": str(tmp_path), "text_field": "text", "shuffle_buffer": 16})
    pool = prepare("d", spec)
    assert len(pool) == 12  # only what the batches need
    assert pool.document_id.nunique() == 12
    again = prepare("d", spec)
    assert list(again.document_id) == list(pool.document_id)  # seeded shuffle buffer
    assert list(pool.document_id) != [str(i) for i in range(12)]


def test_missing_text_field_is_one_clear_error(tmp_path):
    spec = dataset_spec(
        {"source": "files", "files": write_jsonl(tmp_path / "d.jsonl", texts(20)), "text_field": "body"}
    )
    with pytest.raises(DataError, match="text field 'body' not found; available fields: text, meta"):
        prepare("d", spec)


def test_too_few_documents_is_one_clear_error(tmp_path):
    spec = dataset_spec({"source": "files", "files": write_jsonl(tmp_path / "d.jsonl", texts(10))})
    with pytest.raises(DataError, match="has 10 non-empty documents but 3 batches x 4 documents need 12"):
        prepare("d", spec)
    reuse = dataset_spec({"source": "files", "files": str(tmp_path / "d.jsonl")}, reuse_documents=True)
    assert len(prepare("d", reuse)) == 10


def test_batches_hold_distinct_documents(tmp_path):
    """The authors' library repeated one batch 200 times (docs/method.md#where-we-differ-from-the-authors-code)."""
    spec = dataset_spec({"source": "files", "files": write_jsonl(tmp_path / "d.jsonl", texts(30))})
    pool = prepare("d", spec)
    arrays, manifest, hashes = sample("d", pool, spec["sampling"], build_tokenizer(20))
    per_batch = manifest.groupby("batch").document_id.apply(set)
    assert len(per_batch) == 3
    assert per_batch[0].isdisjoint(per_batch[1]) and per_batch[1].isdisjoint(per_batch[2])
    assert len(set(hashes)) == 3
    assert not np.array_equal(arrays["input_ids"][0], arrays["input_ids"][1])


def test_more_batches_keep_the_first_ones():
    first = batch_rows(100, 3, 8, reuse=False, seed=0)
    more = batch_rows(100, 5, 8, reuse=False, seed=0)
    np.testing.assert_array_equal(first, more[:3])
    reuse = batch_rows(20, 4, 8, reuse=True, seed=1)
    assert all(len(set(row)) == 8 for row in reuse)
    assert not np.array_equal(reuse[0], reuse[1])
    np.testing.assert_array_equal(reuse[:2], batch_rows(20, 2, 8, reuse=True, seed=1))


def test_pad_is_the_tokenizers_eos(tmp_path, tiny_probe):
    tokenizer = load_tokenizer(tiny_probe)
    # move EOS away from 0 and from GPT-2's 50256 to prove it is read from the tokenizer
    tokenizer.add_special_tokens({"eos_token": "<eos2>"})
    tokenizer.pad_token = tokenizer.eos_token
    eos = tokenizer.eos_token_id
    assert eos not in (0, 50256)
    pool = pd.DataFrame({"document_id": ["0", "1"], "sha256": ["x", "y"], "text": ["a b", "c d e f g h i j k l"]})
    sampling = {"n_batches": 1, "batch_size": 2, "max_length": 8, "seed": 0, "reuse_documents": False}
    arrays, manifest, _ = sample("d", pool, sampling, tokenizer)
    ids, mask = arrays["input_ids"][0], arrays["attention_mask"][0]
    assert ids.shape == (2, 8)
    assert list(mask[0]) == [1, 1, 0, 0, 0, 0, 0, 0] and (ids[0, 2:] == eos).all()
    assert mask[1].all()  # truncated to max_length
    assert list(manifest.n_tokens) == [2, 8]


def test_all_padding_batch_is_one_clear_error():
    tokenizer = build_tokenizer(20)
    pool = pd.DataFrame({"document_id": list("0123"), "sha256": list("wxyz"), "text": ["a", "b", "c d", "e f"]})
    sampling = {"n_batches": 2, "batch_size": 2, "max_length": 8, "seed": 0, "reuse_documents": False}
    with pytest.raises(DataError, match="batch 0 is all padding"):
        sample("d", pool, sampling, tokenizer)


def test_lower_bound_sequences():
    rng = np.random.default_rng(0)
    seqs = lower_bound(2000, 16, vocab_size=10, eos_id=0, special_ids=[0, 1], rng=rng)
    for s in seqs:
        body = s[:-1] if s[-1] == 0 else s
        assert len(set(body.tolist())) == 1 and body[0] not in (0, 1)
        assert len(s) <= 16
    ended = np.mean([s[-1] == 0 for s in seqs])
    assert ended == pytest.approx(1 - 0.9**15, abs=0.04)  # EOS with probability 1/|V| at each of 15 steps


def test_upper_bound_sequences():
    rng = np.random.default_rng(0)
    seqs = upper_bound(3000, 16, vocab_size=10, eos_id=0, special_ids=[0, 1], rng=rng)
    tokens = np.concatenate(seqs)
    assert 1 not in tokens  # non-EOS special tokens never drawn
    assert all((s[:-1] != 0).all() for s in seqs)  # EOS only at the end
    body = np.concatenate([s[:-1] if s[-1] == 0 else s for s in seqs])
    counts = np.bincount(body, minlength=10)[2:]
    assert counts.min() / counts.max() > 0.9  # uniform


def test_ginc_pool_is_consecutive_chunks():
    spec = dataset_spec({"source": "ginc", "n_concepts": 2, "n_documents": 3, "document_length": 64}, n_batches=3)
    pool = prepare("d", spec)
    assert list(pool.document_id[:9]) == ["0:0", "0:1", "0:2", "0:3", "0:4", "0:5", "0:6", "0:7", "1:0"]
    assert all(len(t.split()) == 8 for t in pool.text)


def write_pile_like(path, n):
    """Rows like the Pile's: text and meta.pile_set_name; one in three from subset 'B'."""
    rows = [
        {"text": f"doc {i} " + "x " * (i % 5), "meta": {"pile_set_name": "B" if i % 3 == 0 else "A"}} for i in range(n)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


@pytest.mark.parametrize("source", ["files", "hub"])
def test_filter_keeps_one_subset_with_the_source_ids(tmp_path, source):
    rows = write_pile_like(tmp_path / "train.jsonl", 90)
    subset = {"filter": {"field": "meta.pile_set_name", "value": "B"}, "text_field": "text"}
    location = {"files": str(tmp_path / "train.jsonl")} if source == "files" else {"path": str(tmp_path)}
    pool = prepare("d", dataset_spec({"source": source, **location, **subset}))
    assert len(pool) == 12
    for doc_id, text in zip(pool.document_id, pool.text):
        row = int(doc_id.removeprefix("train.jsonl:"))  # a hub dataset's ids name the data file and the row
        assert rows[row]["meta"]["pile_set_name"] == "B" and rows[row]["text"] == text


@pytest.mark.parametrize("source", ["lower_bound", "upper_bound", "ginc", "files", "hub"])
def test_adding_batches_keeps_the_first_batches_documents(tmp_path, source):
    write_pile_like(tmp_path / "train.jsonl", 90)
    spec = {"source": source}
    if source == "files":
        spec["files"] = str(tmp_path / "train.jsonl")
    elif source == "hub":
        spec.update(path=str(tmp_path), text_field="text", shuffle_buffer=16)
    elif source == "ginc":
        spec.update(n_symbols=20, n_documents=4, document_length=64)
    tokenizer = build_tokenizer(20)
    few, more = (prepare("d", dataset_spec(spec, n_batches=n), tokenizer) for n in (2, 5))
    pd.testing.assert_frame_equal(few, more.iloc[: len(few)])


def test_mix_draws_each_batch_from_the_components_by_weight(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [f"alpha {i}" for i in range(60)])
    b = write_jsonl(tmp_path / "b.jsonl", [f"beta {i}" for i in range(60)])
    config = {
        "probe": {"id": "x"},
        "task2vec": {"embeddings_per_job": 1},
        "sampling": {"n_batches": 3, "batch_size": 8, "max_length": 8},
        "datasets": {
            "a": {"source": "files", "files": a},
            "b": {"source": "files", "files": b},
            "mix": {"source": "mix", "components": {"a": 3, "b": 1}},
        },
    }
    spec = validate(config)["datasets"]["mix"]
    assert spec["components"]["a"]["weight"] == 0.75
    pool = prepare("mix", spec)
    assert len(pool) == 24 and pool.document_id.nunique() == 24
    per_batch = pool.document_id.str.split(":").str[0].to_numpy().reshape(3, 8)
    assert all(list(row).count("a") == 6 and list(row).count("b") == 2 for row in per_batch)
    assert all(
        text.startswith("alpha" if i.startswith("a:") else "beta") for i, text in zip(pool.document_id, pool.text)
    )


def test_hub_source_streams_zstandard_compressed_jsonl(tmp_path):
    """The Pile and SlimPajama are stored as .jsonl.zst on the hub."""
    import zstandard

    rows = write_pile_like(tmp_path / "plain.jsonl", 60)
    (tmp_path / "data").mkdir()
    compressed = zstandard.ZstdCompressor().compress((tmp_path / "plain.jsonl").read_bytes())
    (tmp_path / "data" / "train.jsonl.zst").write_bytes(compressed)
    spec = {"source": "hub", "path": str(tmp_path / "data"), "text_field": "text", "shuffle_buffer": 8}
    pool = prepare("d", dataset_spec(spec))
    assert pool.document_id.str.startswith("train.jsonl.zst:").all()  # the data file and the row
    assert len(pool) == 12 and all(rows[int(i.split(":")[1])]["text"] == t for i, t in zip(pool.document_id, pool.text))
