"""Small, faithful replicas of the hub repositories our configs name: the same file names,
folders, formats, configs, splits and columns as the real repositories, only fewer and shorter
rows and a 2-layer model. tests/hub_server.py serves them on loopback, so the workflow reaches
them through the very calls a hub id takes (and `hf download` fills a Hugging Face cache from
them as it would from the hub).

Where each fact comes from is written beside it. The layouts were checked in December 2026
with our search tool against stored copies of the repositories' cards, file listings, and
public code that downloads their files by path (we cannot reach the hub itself); "unverified"
marks what no source confirmed, and the replica then follows the hub's own conventions.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

# --- openai-community/gpt2 (what the id `gpt2` resolves to) ---

# config.json as the hub holds it (665 bytes; every field of gpt2's own), with the sizes
# scaled down: n_layer, n_embd, n_head and vocab_size are ours, the rest is gpt2's
GPT2_CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_layer": 12,
    "n_positions": 1024,
    "resid_pdrop": 0.1,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "task_specific_params": {"text-generation": {"do_sample": True, "max_length": 50}},
    "vocab_size": 50257,
}
# the repository's top level (its file listing), by format; none of these but the configs,
# the tokenizer files and model.safetensors is what a PyTorch probe needs
GPT2_FILES = [
    ".gitattributes",
    "64-8bits.tflite",
    "64-fp16.tflite",
    "64.tflite",
    "README.md",
    "config.json",
    "flax_model.msgpack",
    "generation_config.json",
    "merges.txt",
    "model.safetensors",
    "pytorch_model.bin",
    "rust_model.ot",
    "tf_model.h5",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
]
# onnx/: the ONNX export (the decoders, vocab.json and merges.txt are confirmed by code that
# downloads them by path; the rest of the folder is Optimum's export layout, unverified)
GPT2_ONNX = [
    "decoder_model.onnx",
    "decoder_with_past_model.onnx",
    "decoder_model_merged.onnx",
    "vocab.json",
    "merges.txt",
]
# the files a PyTorch probe needs: what the fetch stage must pick from that list
GPT2_NEEDED = [
    "config.json",
    "generation_config.json",
    "merges.txt",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
]
ENDOFTEXT = "<|endoftext|>"
WORDS = (
    "the of and to in is was for on that with as by at from his her an are were which this be has had "
    "not they it one their also been more its first new after two who other time can all into only "
    "over most some year such these between many used city school world state work made during high"
).split()

# placeholders in the formats the probe never reads: the magic bytes each format starts with,
# so that a file picked by mistake fails to load instead of passing unnoticed
MAGIC = {
    ".h5": b"\x89HDF\r\n\x1a\n",  # HDF5 (Keras' tf_model.h5)
    ".msgpack": b"\x80",  # an empty msgpack map (Flax's serialisation)
    ".tflite": b"\x1c\x00\x00\x00TFL3",  # a FlatBuffer with TensorFlow Lite's identifier
    ".onnx": b"\x08\x07\x12\x07pytorch",  # an ONNX ModelProto: ir_version 7, producer "pytorch"
}


def _tokenizer():
    """A byte-level BPE over the 256 bytes and merges trained on our words, with the
    end-of-text token last, as in gpt2 (id 50256 there): GPT-2's tokenizer, only smaller."""
    from tokenizers import ByteLevelBPETokenizer

    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(WORDS, size=12)) for _ in range(400)]
    backend = ByteLevelBPETokenizer(add_prefix_space=False, trim_offsets=True)
    backend.train_from_iterator(corpus, vocab_size=400, min_frequency=2, special_tokens=[])
    backend.add_special_tokens([ENDOFTEXT])
    return backend


def gpt2(folder: Path, n_layer: int = 2, n_embd: int = 32, n_head: int = 2, seed: int = 0) -> Path:
    """openai-community/gpt2's repository, small: every file of its listing, with a 2-layer
    GPT-2 and a byte-level BPE tokenizer of the same classes and special token."""
    import torch
    from safetensors.torch import save_file
    from transformers import GPT2Config, GPT2Model

    folder.mkdir(parents=True, exist_ok=True)
    backend = _tokenizer()
    vocab = backend.get_vocab(with_added_tokens=True)
    eos = vocab[ENDOFTEXT]
    assert eos == len(vocab) - 1
    config = {**GPT2_CONFIG, "n_layer": n_layer, "n_embd": n_embd, "n_head": n_head, "vocab_size": len(vocab)}
    config.update(bos_token_id=eos, eos_token_id=eos)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    # generation_config.json (124 bytes on the hub): written by transformers 4.26 from the config
    generation = {"_from_model_config": True, "bos_token_id": eos, "eos_token_id": eos}
    (folder / "generation_config.json").write_text(
        json.dumps({**generation, "transformers_version": "4.26.0.dev0"}, indent=2) + "\n"
    )
    # tokenizer_config.json is 26 bytes on the hub: only the model's length, no tokenizer class
    # (transformers picks GPT-2's tokenizer from config.json's model_type)
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1024}))
    # the slow tokenizer's files (vocab.json with the end-of-text token, merges.txt with its
    # "#version: 0.2" header) and the fast one's tokenizer.json
    backend.save_model(str(folder))
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    backend.save(str(folder / "tokenizer.json"))
    # the weights: the base model's tensors without the "transformer." prefix (gpt2's checkpoint
    # predates it; transformers maps them), in safetensors (format "pt") and as a pickled state dict
    torch.manual_seed(seed)
    base = GPT2Model(GPT2Config(**{k: v for k, v in config.items() if k != "architectures"}))
    state = {k: v.contiguous() for k, v in base.state_dict().items()}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    torch.save(state, folder / "pytorch_model.bin")
    for name in GPT2_FILES:
        suffix = Path(name).suffix
        if suffix in MAGIC:
            (folder / name).write_bytes(MAGIC[suffix])
    with zipfile.ZipFile(folder / "rust_model.ot", "w") as archive:  # tch's .ot: a TorchScript zip
        archive.writestr("rust_model/data.pkl", b"")
    (folder / "README.md").write_text("---\nlanguage: en\ntags:\n- exbert\nlicense: mit\n---\n\n# GPT-2\n")
    (folder / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    onnx = folder / "onnx"
    onnx.mkdir(exist_ok=True)
    for name in GPT2_ONNX:
        source = folder / name
        (onnx / name).write_bytes(source.read_bytes() if source.exists() else MAGIC[".onnx"])
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(GPT2_FILES)
    return folder


# --- datasets: rows in each repository's own columns ---


def _texts(seed: int, n: int) -> list[str]:
    """n distinct documents of 6-40 words, different for each seed."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(6, 40)))) + f" {seed}-{i}" for i in range(n)]


def _write(path: Path, rows: list[dict]) -> None:
    """Rows in the format the file name says: .parquet, .arrow (the Arrow IPC stream that
    `datasets`' save_to_disk writes), .json.gz / .jsonl.zst (JSON lines, compressed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    name = path.name
    if name.endswith(".parquet"):
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif name.endswith(".arrow"):
        table = pa.Table.from_pylist(rows)
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        path.write_bytes(sink.getvalue())
    else:
        lines = "".join(json.dumps(row) + "\n" for row in rows).encode()
        if name.endswith(".gz"):
            path.write_bytes(gzip.compress(lines, mtime=0))
        elif name.endswith((".zst", ".zstd")):
            import zstandard

            path.write_bytes(zstandard.ZstdCompressor().compress(lines))
        else:
            raise ValueError(name)


def _card(folder: Path, configs: list[dict] | None, **fields) -> None:
    """README.md with the YAML header the hub reads (its `configs:` declare the data files)."""
    header = {**fields, **({"configs": configs} if configs else {})}
    (folder / "README.md").write_text("---\n" + yaml.safe_dump(header, sort_keys=False) + "---\n")


PILE_SETS = ["Pile-CC", "PubMed Abstracts", "USPTO Backgrounds", "HackerNews", "NIH ExPorter", "Github"]


def pile_uncopyrighted(folder: Path, rows: int = 240) -> None:
    """monology/pile-uncopyrighted: train/00.jsonl.zst ... train/29.jsonl.zst (30 on the hub;
    3 here), val.jsonl.zst and test.jsonl.zst at the top; rows {"text", "meta":
    {"pile_set_name"}}. No configs in its card: the hub infers the splits from the names.
    (Download scripts that fetch these paths; a docstring quoting a row.)"""
    for k in range(3):
        texts = _texts(100 + k, rows)
        _write(
            folder / f"train/{k:02d}.jsonl.zst",
            [{"text": t, "meta": {"pile_set_name": PILE_SETS[(i + k) % len(PILE_SETS)]}} for i, t in enumerate(texts)],
        )
    for split, seed in (("val", 110), ("test", 111)):
        rows_ = [{"text": t, "meta": {"pile_set_name": PILE_SETS[i % 6]}} for i, t in enumerate(_texts(seed, 30))]
        _write(folder / f"{split}.jsonl.zst", rows_)
    _card(folder, None, license="other")


def pile_splitted(folder: Path, rows: int = 80) -> None:
    """ArmelR/the-pile-splitted: data/<Pile subset>/<split>/data-XXXXX-of-NNNNN.arrow (Arrow
    stream files; OpenWebText2/train has 250 on the hub), one config per subset named as the
    Pile names it ("NIH ExPorter", "HackerNews"), splits train and test, column text (code that
    downloads these paths and reads them with pyarrow's open_stream; code loading the configs).
    The card's configs block was not found: ours declares each subset's folder (unverified),
    and the meta column follows the Pile's rows (unverified)."""
    configs = []
    for s, subset in enumerate(PILE_SETS[:5]):
        for split, shards in (("train", 2), ("test", 1)):
            for k in range(shards):
                texts = _texts(200 + 10 * s + k + (5 if split == "test" else 0), rows if split == "train" else 20)
                path = folder / f"data/{subset}/{split}/data-{k:05d}-of-{shards:05d}.arrow"
                _write(path, [{"text": t, "meta": {"pile_set_name": subset}} for t in texts])
        data_files = [{"split": sp, "path": f"data/{subset}/{sp}/*.arrow"} for sp in ("train", "test")]
        configs.append({"config_name": subset, "data_files": data_files})
    _card(folder, configs)


def wikitext(folder: Path, rows: int = 150) -> None:
    """Salesforce/wikitext: one folder per config (wikitext-103-raw-v1, wikitext-103-v1,
    wikitext-2-raw-v1, wikitext-2-v1) with train-00000-of-00002.parquet, train-00001-of-00002
    .parquet (the 103 configs), validation-00000-of-00001.parquet, test-00000-of-00001.parquet;
    column text, one line a row, empty lines and " = Heading = " lines included (code naming
    these files; the parquet conversion's card)."""
    configs = []
    for c, config in enumerate(["wikitext-103-raw-v1", "wikitext-103-v1", "wikitext-2-raw-v1", "wikitext-2-v1"]):
        shards = 2 if "103" in config else 1
        files = [(f"train-{k:05d}-of-{shards:05d}.parquet", rows) for k in range(shards)]
        files += [("validation-00000-of-00001.parquet", 20), ("test-00000-of-00001.parquet", 20)]
        for k, (name, n) in enumerate(files):
            texts = _texts(300 + 10 * c + k, n)
            lines = [" = Heading = " if i % 10 == 0 else ("" if i % 3 == 1 else t) for i, t in enumerate(texts)]
            _write(folder / config / name, [{"text": x} for x in lines])
        data_files = [{"split": sp, "path": f"{config}/{sp}-*"} for sp in ("test", "train", "validation")]
        configs.append({"config_name": config, "data_files": data_files})
    _card(folder, configs)


def slimpajama(folder: Path, rows: int = 100) -> None:
    """cerebras/SlimPajama-627B: train/chunk1..chunk10/example_train_<i>.jsonl.zst (i not zero
    padded), validation/ and test/chunk<k>/example_holdout_<i>.jsonl.zst; rows {"text", "meta":
    {"redpajama_set_name"}}; no configs in its card (the card; download scripts; a cache path)."""
    sets = ["RedPajamaCommonCrawl", "RedPajamaC4", "RedPajamaGithub", "RedPajamaArXiv", "RedPajamaWikipedia"]
    for chunk in (1, 2):
        for i in range(2):
            texts = _texts(400 + 10 * chunk + i, rows)
            rows_ = [{"text": t, "meta": {"redpajama_set_name": sets[j % len(sets)]}} for j, t in enumerate(texts)]
            _write(folder / f"train/chunk{chunk}/example_train_{i}.jsonl.zst", rows_)
    for split in ("validation", "test"):
        rows_ = [{"text": t, "meta": {"redpajama_set_name": sets[0]}} for t in _texts(450 + len(split), 20)]
        _write(folder / f"{split}/chunk1/example_holdout_0.jsonl.zst", rows_)
    _card(folder, None, task_categories=["text-generation"], language=["en"], pretty_name="SlimPajama-627B")


def openwebtext(folder: Path, rows: int = 100) -> None:
    """Skylion007/openwebtext: plain_text/train-00000-of-00080.parquet ... (80 shards on the
    hub; 3 here), config plain_text, split train, column text (code loading these files; the
    parquet conversion's listing)."""
    for k in range(3):
        _write(folder / f"plain_text/train-{k:05d}-of-00080.parquet", [{"text": t} for t in _texts(500 + k, rows)])
    _card(folder, [{"config_name": "plain_text", "data_files": [{"split": "train", "path": "plain_text/train-*"}]}])


def c4(folder: Path, rows: int = 100) -> None:
    """allenai/c4: en/c4-train.00000-of-01024.json.gz ... and en/c4-validation.0000N-of-00008
    .json.gz (gzip JSON lines: text, timestamp, url), the card's configs declaring each
    variant's files (en, en.noblocklist, realnewslike here; en.noclean and the multilingual
    ones on the hub)."""
    configs = []
    for v, variant in enumerate(["en", "en.noblocklist", "realnewslike"]):
        for k in range(3):
            rows_ = [
                {"text": t, "timestamp": "2019-04-25T12:57:54Z", "url": f"https://example.org/{v}/{k}/{i}"}
                for i, t in enumerate(_texts(600 + 10 * v + k, rows))
            ]
            _write(folder / f"{variant}/c4-train.{k:05d}-of-01024.json.gz", rows_)
        _write(folder / f"{variant}/c4-validation.00000-of-00008.json.gz", [{"text": t} for t in _texts(650 + v, 20)])
        data_files = [
            {"split": "train", "path": f"{variant}/c4-train.*.json.gz"},
            {"split": "validation", "path": f"{variant}/c4-validation.*.json.gz"},
        ]
        configs.append({"config_name": variant, "data_files": data_files})
    _card(folder, configs, license="odc-by")


def fineweb(folder: Path, rows: int = 100, edu: bool = False) -> None:
    """HuggingFaceFW/fineweb and fineweb-edu: data/CC-MAIN-YYYY-WW/000_00000.parquet ... (one
    folder per Common Crawl dump) and sample/10BT/000_00000.parquet ... (14-15 files on the hub);
    configs default (data/*/*), sample-10BT (sample/10BT/*) and one per dump; split train;
    columns text, id, dump, url, date, file_path, language, language_score, token_count, and for
    fineweb-edu score and int_score (the cards' configs and features; code naming the files)."""
    dumps = ["CC-MAIN-2024-10", "CC-MAIN-2024-18"]
    seed = 700 + (50 if edu else 0)

    def rows_of(s: int, dump: str, n: int) -> list[dict]:
        out = []
        for i, t in enumerate(_texts(s, n)):
            row = {"text": t, "id": f"<urn:uuid:{s}-{i}>", "dump": dump, "url": f"https://example.org/{s}/{i}"}
            row.update(date="2024-02-21T12:00:00Z", file_path=f"s3://commoncrawl/{dump}/{i}.warc.gz")
            row.update(language="en", language_score=0.95, token_count=len(t.split()))
            if edu:
                row.update(score=3.2, int_score=3)
            out.append(row)
        return out

    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*/*"}]}]
    configs.append({"config_name": "sample-10BT", "data_files": [{"split": "train", "path": "sample/10BT/*"}]})
    for d, dump in enumerate(dumps):
        for k in range(2):
            _write(folder / f"data/{dump}/{k:03d}_00000.parquet", rows_of(seed + 10 * d + k, dump, rows))
        configs.append({"config_name": dump, "data_files": [{"split": "train", "path": f"data/{dump}/*"}]})
    for k in range(3):
        _write(folder / f"sample/10BT/{k:03d}_00000.parquet", rows_of(seed + 40 + k, dumps[k % 2], rows))
    _card(folder, configs, license="odc-by")


def dclm_baseline(folder: Path, rows: int = 100) -> None:
    """mlfoundations/dclm-baseline-1.0: global-shard_01_of_10 ... global-shard_10_of_10 /
    local-shard_0_of_10 ... local-shard_9_of_10 / shard_00000000_processed.jsonl.zst; rows text,
    url, metadata, warcinfo and the filters' scores (code that downloads these paths and reads
    the rows). No configs block was found in its card (unverified): the hub infers one config."""
    for g in (1, 2):
        for local in (0, 1):
            rows_ = [
                {
                    "text": t,
                    "url": f"https://example.org/{g}/{local}/{i}",
                    "bff_contained_ngram_count_before_dedupe": 0,
                    "language_id_whole_page_fasttext": {"en": 0.93},
                    "metadata": {"WARC-Type": "response"},
                    "previous_word_count": len(t.split()),
                    "warcinfo": "isPartOf: CC-MAIN-2014-15",
                    "fasttext_openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train_prob": 0.2,
                }
                for i, t in enumerate(_texts(800 + 10 * g + local, rows))
            ]
            _write(
                folder / f"global-shard_{g:02d}_of_10/local-shard_{local}_of_10/shard_00000000_processed.jsonl.zst",
                rows_,
            )
    _card(folder, None, license="cc-by-4.0")


def olmo_mix(folder: Path, rows: int = 100) -> None:
    """allenai/olmo-mix-1124 (Dolma's successor as a plain-files repository; allenai/dolma itself
    is URL lists and a loading script): configs default (data/**/*), wiki (data/wiki/*), pes2o
    (data/pes2o/*) and others; files such as data/wiki/wiki-0000.json.gz and
    data/pes2o/pes2o-0000.json.gz (gzip JSON lines in Dolma's format: id, text, added, created,
    source, version, metadata) (its card's configs; a listing at a commit)."""
    configs = [{"config_name": "default", "data_files": [{"split": "train", "path": "data/**/*"}]}]
    for s, source in enumerate(["wiki", "pes2o", "arxiv"]):
        subdir = "arxiv/train/arxiv-train" if source == "arxiv" else f"{source}/{source}"
        for k in range(2):
            rows_ = [
                {
                    "id": f"{source}-{k}-{i}",
                    "text": t,
                    "added": "2024-11-24",
                    "created": "2020-01-01",
                    "source": source,
                    "version": "v0",
                    "metadata": {},
                }
                for i, t in enumerate(_texts(900 + 10 * s + k, rows))
            ]
            _write(folder / f"data/{subdir}-{k:04d}.json.gz", rows_)
        pattern = f"data/{source}/*" if source != "arxiv" else "data/arxiv/**/*"
        configs.append({"config_name": source, "data_files": [{"split": "train", "path": pattern}]})
    # the DCLM part keeps DCLM's own paths below data/dclm/, with the extension .jsonl.zstd
    dclm = "data/dclm/raw/hero-run-fasttext_for_HF/filtered/OH_eli5_vs_rw_v2_bigram_200k_train/"
    dclm += "fasttext_openhermes_reddit_eli5_vs_rw_v2_bigram_200k_train/processed_data/"
    dclm += "global-shard_01_of_10/local-shard_0_of_10/shard_00000000_processed.jsonl.zstd"
    rows_ = [{"id": f"dclm-{i}", "text": t, "source": "dclm", "version": "v0"} for i, t in enumerate(_texts(950, rows))]
    _write(folder / dclm, rows_)
    configs.append({"config_name": "dclm", "data_files": [{"split": "train", "path": "data/dclm/**/*"}]})
    _card(folder, configs, license="odc-by")


def the_stack_dedup(folder: Path, rows: int = 80) -> None:
    """bigcode/the-stack-dedup (gated on the hub): data/<language>/data-XXXXX-of-NNNNN.parquet
    (python has 144 shards), the file's text in column content beside hexsha, size, ext, lang,
    the repositories' names and counts (code that downloads these paths; its features)."""
    for language, ext, shards in (("python", "py", 3), ("rust", "rs", 2)):
        for k in range(shards):
            rows_ = [
                {
                    "hexsha": f"{k:04x}{i:036x}",
                    "size": len(t),
                    "ext": ext,
                    "lang": language.capitalize(),
                    "max_stars_repo_path": f"src/m{i}.{ext}",
                    "max_stars_repo_name": f"org/repo{i}",
                    "max_stars_count": i,
                    "content": f"def f{i}():\n    return '{t}'\n",
                    "avg_line_length": 20.0,
                    "max_line_length": 40,
                    "alphanum_fraction": 0.7,
                }
                for i, t in enumerate(_texts(1000 + k + (10 if language == "rust" else 0), rows))
            ]
            _write(folder / f"data/{language}/data-{k:05d}-of-{shards:05d}.parquet", rows_)
    _card(folder, None, extra_gated_prompt="You agree to the terms of The Stack.")


def mmlu(folder: Path, rows: int = 60) -> None:
    """cais/mmlu: one config per subject and `all`, each with test, validation and dev files
    (<config>/test-00000-of-00001.parquet ...; `all` also auxiliary_train); columns question,
    subject, choices, answer (a class label, 0-3) (its card's configs and features)."""
    subjects = ["abstract_algebra", "anatomy"]
    configs = []
    for name in [*subjects, "all"]:
        for s, split in enumerate(("test", "validation", "dev")):
            n = rows if split == "test" else 10
            rows_ = [
                {"question": q + "?", "subject": subjects[i % 2], "choices": ["a", "b", "c", "d"], "answer": i % 4}
                for i, q in enumerate(_texts(1100 + 10 * len(name) + s, n))
            ]
            _write(folder / f"{name}/{split}-00000-of-00001.parquet", rows_)
        configs.append(
            {
                "config_name": name,
                "data_files": [{"split": sp, "path": f"{name}/{sp}-*"} for sp in ("test", "validation", "dev")],
            }
        )
    _card(folder, configs, license="mit")


def gsm8k(folder: Path, rows: int = 80) -> None:
    """openai/gsm8k: configs main and socratic, each main/train-00000-of-00001.parquet and
    main/test-00000-of-00001.parquet; columns question and answer (ending "#### <number>")
    (its card's configs; code naming the files)."""
    configs = []
    for c, config in enumerate(("main", "socratic")):
        for split in ("train", "test"):
            rows_ = [
                {"question": q + "?", "answer": f"{q} so it is {i}.\n#### {i}"}
                for i, q in enumerate(_texts(1200 + 10 * c + len(split), rows))
            ]
            _write(folder / f"{config}/{split}-00000-of-00001.parquet", rows_)
        configs.append(
            {
                "config_name": config,
                "data_files": [{"split": sp, "path": f"{config}/{sp}-*"} for sp in ("train", "test")],
            }
        )
    _card(folder, configs, license="mit")


def humaneval(folder: Path, rows: int = 80) -> None:
    """openai/openai_humaneval: config openai_humaneval, split test, one file
    openai_humaneval/test-00000-of-00001.parquet (164 rows on the hub); columns task_id, prompt,
    canonical_solution, test, entry_point (code naming the file and its columns)."""
    rows_ = [
        {
            "task_id": f"HumanEval/{i}",
            "prompt": f'def f{i}(x):\n    """{t}"""\n',
            "canonical_solution": "    return x\n",
            "test": f"def check(candidate):\n    assert candidate({i}) == {i}\n",
            "entry_point": f"f{i}",
        }
        for i, t in enumerate(_texts(1300, rows))
    ]
    _write(folder / "openai_humaneval/test-00000-of-00001.parquet", rows_)
    data_files = [{"split": "test", "path": "openai_humaneval/test-*"}]
    _card(folder, [{"config_name": "openai_humaneval", "data_files": data_files}], license="mit")


DATASETS = {
    "monology/pile-uncopyrighted": pile_uncopyrighted,
    "ArmelR/the-pile-splitted": pile_splitted,
    "Salesforce/wikitext": wikitext,
    "cerebras/SlimPajama-627B": slimpajama,
    "Skylion007/openwebtext": openwebtext,
    "allenai/c4": c4,
    "HuggingFaceFW/fineweb": fineweb,
    "HuggingFaceFW/fineweb-edu": lambda folder: fineweb(folder, edu=True),
    "mlfoundations/dclm-baseline-1.0": dclm_baseline,
    "allenai/olmo-mix-1124": olmo_mix,
    "bigcode/the-stack-dedup": the_stack_dedup,
    "cais/mmlu": mmlu,
    "openai/gsm8k": gsm8k,
    "openai/openai_humaneval": humaneval,
}
MODELS = {"openai-community/gpt2": gpt2}
# ids the hub redirects to their repository's current one (renamed repositories)
ALIASES = {"gpt2": "openai-community/gpt2", "c4": "allenai/c4", "wikitext": "Salesforce/wikitext"}


def hub_root(root: Path, datasets=None, models=None) -> Path:
    """A folder for tests/hub_server.py holding the replicas asked for (all by default)."""
    for repo_id in DATASETS if datasets is None else datasets:
        folder = root / "datasets" / repo_id
        if not folder.exists():
            DATASETS[repo_id](folder)
    for repo_id in MODELS if models is None else models:
        folder = root / "models" / repo_id
        if not folder.exists():
            MODELS[repo_id](folder)
    return root
