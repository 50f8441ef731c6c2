"""Preparing a dataset: the pool of documents its batches are drawn from, stored in the
order the batches consume them.

Sources: a Hugging Face hub dataset (streaming with a shuffle buffer reads only what the
batches need), local files through ``datasets.load_dataset``, or a built-in generator (the
lower and upper bounds of docs/method.md#bounds, GINC of docs/method.md#ginc). Empty texts are dropped.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .config import FILE_FORMATS, IMAGE_SOURCES
from .errors import DataError
from .hub import dataset_source, network_error, wait_before_retry, with_retries
from .inputs import files_sha256

log = logging.getLogger(__name__)

# the kept documents are written to a part file every PART_DOCUMENTS documents, with the
# position reached, so that a download killed half-way resumes from its last part
PART_DOCUMENTS = 10_000
PROGRESS_SECONDS = 30.0


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def ids_sha(ids) -> str:
    return hashlib.sha256(np.asarray(ids, dtype=np.int64).tobytes()).hexdigest()[:16]


def pool_size(spec: dict) -> int:
    """How many documents the batches need."""
    return spec["sampling"]["n_batches"] * spec["sampling"]["batch_size"]


def _check_enough(name: str, found: int, spec: dict, duplicates: int = 0) -> None:
    """Distinct batches need n_batches x batch_size documents; with reuse, one batch's worth."""
    s = spec["sampling"]
    if found >= (s["batch_size"] if s["reuse_documents"] else pool_size(spec)):
        return
    dropped = f" (after dropping {duplicates} exact duplicates)" if duplicates else ""
    raise DataError(
        f"dataset '{name}' has {found} non-empty documents{dropped} but {s['n_batches']} batches x {s['batch_size']} "
        f"documents need {pool_size(spec)}; lower n_batches or batch_size, or set sampling.reuse_documents: true"
    )


def load_text_dataset(spec: dict, name: str = "", work_dir=None, source=None):
    """The ``datasets`` object for a hub or files source (streaming when asked); a hub
    dataset read from where ``source`` (hub.dataset_source) says, at its commit. (``datasets``
    runs no loading scripts since 4.0, so there is no remote code to refuse here.)"""
    import datasets

    if spec["source"] == "hub":
        path, revision = source or dataset_source(spec)
        return datasets.load_dataset(
            path,
            name=spec.get("name"),
            split=spec["split"],
            revision=None if os.path.isdir(path) else revision,
            streaming=spec["streaming"],
        )
    return load_local_files(name, spec, work_dir)


def load_local_files(name: str, spec: dict, work_dir=None):
    """A files source's rows, read by ``datasets`` (its json, parquet and text loaders) into
    memory through an Arrow cache in a temporary folder under ``work_dir`` (the dataset's
    folder under results/; else the system's temporary folder), deleted as soon as they are
    read: nothing goes to the user's Hugging Face cache (~/.cache/huggingface, a cluster's home
    quota). A file the loader fails on is read again line by line to say which line and why."""
    import datasets

    if work_dir is not None:
        Path(work_dir).mkdir(parents=True, exist_ok=True)
        for left in Path(work_dir).glob("arrow-cache-*"):  # by a job killed while reading
            shutil.rmtree(left, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix="arrow-cache-", dir=work_dir) as cache:
            return datasets.load_dataset(
                FILE_FORMATS[spec["format"]],
                data_files=spec["files"],
                split="train",
                cache_dir=cache,
                keep_in_memory=True,
            )
    except Exception as error:
        found = _diagnose_json(name, spec) if spec["format"] in ("jsonl", "json") else None
        if found is None:
            raise
        raise found from error
    finally:
        if work_dir is not None and Path(work_dir).is_dir() and not any(Path(work_dir).iterdir()):
            Path(work_dir).rmdir()


def _diagnose_json(name: str, spec: dict) -> DataError | None:
    """Why a json or jsonl file could not be loaded, read line by line: the first line that is
    not JSON, not an object, or whose fields (or their types) differ from the lines before it;
    or no rows at all. None when no line is at fault (the loader's error stands)."""
    from .inputs import COMPRESSED, local_files

    files = [f for f in local_files(spec) if not f.endswith(COMPRESSED)]
    rows = 0
    for path in files:
        fields: dict | None = None
        with open(path, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line.rstrip("\r\n"))  # so that the column is the line's
                except json.JSONDecodeError as error:
                    if rows == 0 and spec["format"] == "json":
                        break  # a whole-file JSON document, not lines
                    return DataError(
                        f"dataset '{name}': {path} line {n} is not valid JSON ({error.msg} at column {error.colno}); "
                        "fix or remove that line"
                    )
                rows += 1
                if not isinstance(row, dict):
                    return DataError(
                        f"dataset '{name}': {path} line {n} is a JSON {type(row).__name__}, not an object of fields "
                        f'(one document per line, e.g. {{"{spec["text_field"]}": "..."}}); fix that line'
                    )
                kinds = {k: type(v).__name__ for k, v in row.items() if v is not None}
                if fields is None:
                    fields = kinds
                    continue
                if set(row) != set(fields):
                    new, lost = sorted(set(row) - set(fields)), sorted(set(fields) - set(row))
                    what = f"has field(s) {', '.join(new)} that" if new else f"lacks field(s) {', '.join(lost)} that"
                    return DataError(
                        f"dataset '{name}': {path} line {n} {what} the lines before it {'lack' if new else 'have'} "
                        "(the fields are read from the first lines); give every line the same fields (null where a "
                        "value is missing)"
                    )
                for key, kind in kinds.items():
                    if fields.get(key, kind) != kind and {kind, fields[key]} != {"int", "float"}:
                        return DataError(
                            f"dataset '{name}': {path} line {n}: field '{key}' holds a {kind} where the lines before "
                            f"it hold a {fields[key]}; give the field one type in every line"
                        )
                    fields.setdefault(key, kind)
    if rows == 0 and files and spec["format"] == "jsonl":
        return DataError(
            f"dataset '{name}': {', '.join(files)} hold(s) no rows (blank lines only); fix datasets.{name}.files"
        )
    return None


def _lookup(row: dict, dotted: str):
    """row["meta"]["pile_set_name"] for "meta.pile_set_name"."""
    for part in dotted.split("."):
        row = row.get(part) if isinstance(row, dict) else None
    return row


def _texts(name: str, spec: dict, work_dir=None, source=None):
    """Yield (document id, text) of the non-empty documents (of the subset ``filter``
    selects, if any) of a files source or a hub dataset read whole (streaming: false), in
    sampling order. The id is the row's index in the source."""
    ds = load_text_dataset(spec, name, work_dir, source)
    field, subset = spec["text_field"], spec.get("filter")
    ds = _text_columns(ds, spec, name)

    def selected(row) -> bool:
        return subset is None or _lookup(row, subset["field"]) == subset["value"]

    index = np.arange(len(ds)) if subset is None else np.flatnonzero([selected(row) for row in ds])
    if spec["order"] == "random":
        index = index[np.random.default_rng(spec["sampling"]["seed"]).permutation(len(index))]
    texts = ds[field]
    return ((int(i), texts[i]) for i in index)  # every row: prepare_texts drops the empty ones and the duplicates


def _not_text(name: str, spec: dict, doc_id, value) -> DataError:
    """A text field whose values are not strings (numbers, lists, bytes) names its type."""
    where = f" of {', '.join(spec['files'])}" if spec["source"] == "files" else f" of {spec['path']}"
    fix = "decode it to UTF-8 text first, or " if isinstance(value, (bytes, bytearray)) else ""
    return DataError(
        f"dataset '{name}': text field '{spec['text_field']}'{where} holds {type(value).__name__} values, not text "
        f"(document {doc_id}: {str(value)[:40]!r}); {fix}set datasets.{name}.text_field to a field of strings"
    )


def distinct_texts(name: str, spec: dict, rows, needed: int) -> tuple[list, int, int]:
    """The first ``needed`` documents of (id, text) rows in sampling order, each text once:
    rows without a text or with an empty one are dropped, and so are exact duplicates (a
    text whose hash an earlier document has), so distinct batches hold distinct documents.
    Returns the kept (id, text, sha256) and the counts of empty and duplicate rows dropped."""
    kept, seen, empty, duplicates = [], set(), 0, 0
    try:
        for i, t in rows:
            if len(kept) == needed:
                break
            if t is None or (isinstance(t, str) and not t.strip()):
                empty += 1
            elif not isinstance(t, str):
                raise _not_text(name, spec, i, t)
            elif (sha := text_sha(t)) in seen:
                duplicates += 1
            else:
                seen.add(sha)
                kept.append((str(i), t, sha))
    except UnicodeDecodeError as error:
        raise DataError(
            f"dataset '{name}': a document is not UTF-8 ({error.reason} at byte {error.start}); "
            "re-encode the data files as UTF-8"
        ) from None
    return kept, empty, duplicates


def prepare_texts(name: str, spec: dict, work_dir=None) -> pd.DataFrame:
    """The first documents of a hub or files source in sampling order, as many as needed,
    each text once (distinct_texts). A streamed hub dataset resumes from ``work_dir`` (its
    parts) when a download was cut, and streams further when duplicates were dropped. The
    counts of rows dropped, and the local files' hashes, are in the pool's ``attrs``."""
    files = files_sha256(name, spec)  # local text files checked to be UTF-8 before any row is read
    needed = pool_size(spec)
    source = dataset_source(spec) if spec["source"] == "hub" else None
    revision = source and source[1]
    if spec["source"] == "hub" and spec["streaming"]:
        asked = needed
        while True:
            streamed = stream_hub(name, spec, asked, work_dir, source)
            kept, empty, duplicates = distinct_texts(name, spec, streamed, needed)
            if len(kept) == needed or len(streamed) < asked:
                break
            asked += needed - len(kept)  # the first rows in sampling order stay the same
        empty = None  # stream_hub skips the empty rows as it streams: not counted
    else:
        kept, empty, duplicates = distinct_texts(name, spec, _texts(name, spec, work_dir, source), needed)
    _check_enough(name, len(kept), spec, duplicates)
    pool = pd.DataFrame(kept, columns=["document_id", "text", "sha256"])
    pool.attrs = {
        "dataset_revision": revision,
        "duplicates_dropped": duplicates,
        "empty_dropped": empty,
        "files_sha256": files,
    }
    return pool


# --- hub datasets, streamed: resolved commit, shard-aware ids, retries, parts, progress ---


def is_local(path: str) -> bool:
    """A dataset or probe given as a local directory rather than a hub id."""
    return os.path.isdir(path)


def _shards(spec: dict, path: str, revision: str | None):
    """The streaming dataset and the name of each of its shards: the data file's path in the
    repository (or under the local directory), in the dataset's own order."""
    import datasets

    builder = datasets.load_dataset_builder(path, name=spec.get("name"), revision=None if is_local(path) else revision)
    files = builder.config.data_files and builder.config.data_files.get(spec["split"])
    if not files:
        raise DataError(
            f"dataset '{spec['path']}' has no data files for split '{spec['split']}'; set the split to one it has"
        )
    ds = builder.as_streaming_dataset(split=spec["split"])
    if ds.n_shards != len(files):
        raise DataError(
            f"dataset '{spec['path']}': {ds.n_shards} streaming shards but {len(files)} data files, so rows cannot be "
            "traced to their file; report this with the dataset's id"
        )
    root = str(path).rstrip("/") + "/"
    names = []
    for f in map(str, files):
        if f.startswith("hf://"):  # hf://datasets/<repo>@<commit>/<path in the repo>
            names.append(f.split("@", 1)[1].split("/", 1)[1] if "@" in f else f.split("/", 4)[-1])
        else:
            names.append(f[len(root) :] if f.startswith(root) else os.path.basename(f))
    return ds, names


def buffer_shuffle(items, buffer_size: int, rng: np.random.Generator):
    """A seeded shuffle buffer (as datasets' streaming shuffle): once the buffer is full, each
    new item replaces a random one, which is yielded. What it yields first depends only on
    the items read so far, so more documents keep the first ones in the same order."""
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        i = int(rng.integers(buffer_size))
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer


class _Download:
    """The kept documents of one streamed hub dataset in stream order, written to part files
    with the position reached (shard, row), so that a cut download resumes where it was."""

    def __init__(self, work_dir, key: dict):
        self.dir = Path(work_dir) if work_dir else None
        self.key = key
        self.rows: list[tuple[str, str]] = []
        self.position = {"shard": 0, "row": 0, "read": 0}
        self.parts = 0
        if self.dir is None:
            return
        state = self.dir / "position.json"
        if state.exists():
            saved = json.loads(state.read_text())
            if saved["key"] == key:
                for k in range(saved["parts"]):
                    part = pd.read_parquet(self.dir / f"part-{k:05d}.parquet")
                    self.rows += list(zip(part.document_id, part.text))
                self.position, self.parts = saved["position"], saved["parts"]
                log.info(
                    "resuming the download from its %d parts: %d documents kept, %d read, shard %d row %d",
                    self.parts,
                    len(self.rows),
                    self.position["read"],
                    self.position["shard"],
                    self.position["row"],
                )
            else:
                log.info("discarding the parts in %s: they were downloaded for other settings", self.dir)
                shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def save(self, shard: int, row: int, read: int) -> None:
        """Write the documents kept since the last part, and the position after them."""
        self.position = {"shard": shard, "row": row, "read": read}
        if self.dir is None:
            return
        new = self.rows[self.parts * PART_DOCUMENTS :]
        if new:
            ids, texts = zip(*new)
            pd.DataFrame({"document_id": ids, "text": texts}).to_parquet(
                self.dir / f"part-{self.parts:05d}.parquet", index=False
            )
            self.parts += 1
        state = {"key": self.key, "parts": self.parts, "position": self.position}
        tmp = self.dir / "position.json.tmp"
        tmp.write_text(json.dumps(state))
        tmp.replace(self.dir / "position.json")

    def done(self) -> None:
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def stream_hub(name: str, spec: dict, needed: int, work_dir=None, source=None) -> list:
    """Stream a hub dataset (or a local directory read the same way) at its resolved commit
    (``source``: hub.dataset_source): its shards in a seeded order, each from its first row,
    the documents the filter keeps through a seeded shuffle buffer. Ids are
    '<data file>:<row in that file>'. Returns the first ``needed`` (id, text) pairs in
    sampling order."""
    path, revision = source or dataset_source(spec)
    ds, names = with_retries(f"dataset '{name}'", lambda: _shards(spec, path, revision))
    field, subset = spec["text_field"], spec.get("filter")
    ds = _text_columns(ds, spec, name)
    shuffled = spec["order"] == "random"
    order_rng, buffer_rng = np.random.default_rng(spec["sampling"]["seed"]).spawn(2)
    order = order_rng.permutation(len(names)) if shuffled else np.arange(len(names))
    # documents to keep: the needed ones, plus a full shuffle buffer behind them
    target = needed + (spec["shuffle_buffer"] if shuffled else 0)
    key = {"revision": revision, "spec": data_key(spec), "order": [int(i) for i in order]}
    download = _Download(work_dir, key)
    progress = _Progress(name, target, len(download.rows), download.position["read"])
    shard, row, read = download.position["shard"], download.position["row"], download.position["read"]
    failures = 0
    while len(download.rows) < target and shard < len(order):
        try:
            stream = ds.shard(num_shards=len(names), index=int(order[shard]))
            for example in stream.skip(row) if row else stream:
                row, read = row + 1, read + 1
                failures = 0
                text = example[field]
                if (subset is None or _lookup(example, subset["field"]) == subset["value"]) and (
                    isinstance(text, str) and text.strip()
                ):
                    download.rows.append((f"{names[order[shard]]}:{row - 1}", text))
                    if len(download.rows) % PART_DOCUMENTS == 0:
                        download.save(shard, row, read)
                    if len(download.rows) >= target:
                        break
                progress.update(read, len(download.rows), names[order[shard]])
            else:
                shard, row = shard + 1, 0
        except Exception as error:  # noqa: BLE001 - only network errors are retried, the rest re-raised
            if not network_error(error):
                raise
            failures += 1
            where = f"dataset '{name}' (streaming {names[order[shard]]} from row {row})"
            wait_before_retry(failures, error, where, ": the download resumes from its last part")
    download.save(shard, row, read)
    progress.finish(read, len(download.rows))
    rows = download.rows
    if shuffled:
        rows = buffer_shuffle(rows, spec["shuffle_buffer"], buffer_rng)
    pool = list(itertools.islice(rows, needed))
    download.done()
    return pool


class _Progress:
    """Logs documents read and kept, the rate and the time left, every PROGRESS_SECONDS."""

    def __init__(self, name: str, target: int, kept: int, read: int):
        self.name, self.target = name, target
        self.start, self.kept0, self.read0 = time.monotonic(), kept, read
        self.last = self.start

    def update(self, read: int, kept: int, shard: str) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        seconds = now - self.start
        rate, kept_rate = (read - self.read0) / seconds, (kept - self.kept0) / seconds
        left = (self.target - kept) / kept_rate if kept_rate > 0 else float("inf")
        log.info(
            "streaming %s: %d documents read, %d kept (%.2f%%), %.0f documents/s, about %s left (shard %s)",
            self.name,
            read,
            kept,
            100 * kept / max(read, 1),
            rate,
            _duration(left),
            shard,
        )

    def finish(self, read: int, kept: int) -> None:
        log.info(
            "streamed %s: %d documents read, %d kept (%.2f%%) in %s",
            self.name,
            read,
            kept,
            100 * kept / max(read, 1),
            _duration(time.monotonic() - self.start),
        )


def _duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "unknown time"
    if seconds >= 5400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.0f} s"


def data_key(spec: dict) -> str:
    """A hash of what a dataset's documents depend on (its spec without the batch count)."""
    spec = {**spec, "sampling": {k: v for k, v in spec["sampling"].items() if k != "n_batches"}}
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def lower_bound(n: int, length: int, vocab_size: int, eos_id: int, special_ids, rng) -> list[np.ndarray]:
    """Each sequence repeats one random non-special token; at every step after the first
    it ends with EOS with probability 1/|V|."""
    allowed = np.setdiff1d(np.arange(vocab_size), list(special_ids))
    token_rng, stop_rng = rng.spawn(2)  # two streams: the first k sequences do not depend on n
    tokens = token_rng.choice(allowed, size=n)
    stops = stop_rng.geometric(1.0 / vocab_size, size=n)  # position of the EOS, >= 1
    return [
        np.append(np.full(stop, tok), eos_id) if stop < length else np.full(length, tok)
        for tok, stop in zip(tokens, stops)
    ]


def upper_bound(n: int, length: int, vocab_size: int, eos_id: int, special_ids, rng) -> list[np.ndarray]:
    """Tokens uniform over the vocabulary (EOS included, special tokens other than EOS
    excluded); an EOS ends the sequence."""
    allowed = np.setdiff1d(np.arange(vocab_size), [i for i in special_ids if i != eos_id])
    draws = rng.choice(allowed, size=(n, length))
    out = []
    for row in draws:
        ends = np.flatnonzero(row == eos_id)
        out.append(row[: ends[0] + 1] if len(ends) else row)
    return out


def prepare_bound(name: str, spec: dict, tokenizer) -> pd.DataFrame:
    """Lower or upper bound sequences for the probe's tokenizer, pre-tokenised."""
    generate = lower_bound if spec["source"] == "lower_bound" else upper_bound
    rng = np.random.default_rng(spec["sampling"]["seed"])
    seqs = generate(
        pool_size(spec),
        spec["sampling"]["max_length"],
        len(tokenizer),
        tokenizer.eos_token_id,
        tokenizer.all_special_ids,
        rng,
    )
    return pd.DataFrame(
        {
            "document_id": [str(i) for i in range(len(seqs))],
            "input_ids": [s.astype(np.int32) for s in seqs],
            "sha256": [ids_sha(s) for s in seqs],
        }
    )


def prepare_ginc(name: str, spec: dict) -> pd.DataFrame:
    """GINC documents cut into sequences of ``max_length`` words, in document order
    (batches are consecutive chunks, as in the paper) or shuffled."""
    from .ginc import GincSpec, documents_as_text, generate_documents

    fields = {k: spec[k] for k in GincSpec.__dataclass_fields__ if k in spec}
    if fields.get("concepts") is not None:
        fields["concepts"] = tuple(fields["concepts"])
    ginc = GincSpec(**fields)
    symbols, _ = generate_documents(ginc)
    length = spec["sampling"]["max_length"]
    per_doc = ginc.document_length // length
    chunks = symbols[:, : per_doc * length].reshape(-1, length)
    ids = [f"{d}:{c}" for d in range(ginc.n_documents) for c in range(per_doc)]
    order = np.arange(len(chunks))
    if spec["order"] == "random":
        order = np.random.default_rng(spec["sampling"]["seed"]).permutation(len(chunks))
    _check_enough(name, len(order), spec)
    order = order[: pool_size(spec)]
    texts = documents_as_text(chunks[order], ginc.n_symbols)
    return pd.DataFrame({"document_id": [ids[i] for i in order], "text": texts, "sha256": [text_sha(t) for t in texts]})


def mix_counts(weights, batch_size: int) -> np.ndarray:
    """Documents per batch from each component: weight x batch size, rounded by largest
    remainder so that they sum to the batch size."""
    exact = np.asarray(weights, dtype=np.float64) * batch_size
    counts = np.floor(exact).astype(int)
    counts[np.argsort(counts - exact, kind="stable")[: batch_size - counts.sum()]] += 1
    return counts


def prepare_mix(name: str, spec: dict, work_dir=None) -> pd.DataFrame:
    """An interleaved mix: every batch draws its documents from the components by weight.
    Each component is read with the mix's own sampling seed; batch i takes component
    documents [i*c, (i+1)*c), so batches stay distinct and adding batches keeps the first."""
    n, batch_size = spec["sampling"]["n_batches"], spec["sampling"]["batch_size"]
    parts = list(spec["components"].items())
    counts = mix_counts([part["weight"] for _, part in parts], batch_size)
    pools, revisions = [], {}
    for (component, part), count in zip(parts, counts):
        sub = {**part["spec"], "sampling": {**spec["sampling"], "batch_size": int(count), "reuse_documents": False}}
        work = Path(work_dir) / component if work_dir else None
        pool = prepare_texts(f"{name}/{component}", sub, work) if count else pd.DataFrame(columns=["document_id"])
        revisions[component] = pool.attrs.get("dataset_revision")
        pool["document_id"] = component + ":" + pool["document_id"].astype(str)
        pools.append(pool)
    batches = [pool.iloc[i * c : (i + 1) * c] for i in range(n) for pool, c in zip(pools, counts)]
    mixed = pd.concat(batches, ignore_index=True)
    found = {c: r for c, r in revisions.items() if r}
    # a count is the components' sum, or None where one did not count it (empty rows of a stream)
    counts = {key: [p.attrs.get(key, 0) for p in pools] for key in ("duplicates_dropped", "empty_dropped")}
    mixed.attrs = {key: None if None in values else sum(values) for key, values in counts.items()}
    mixed.attrs["files_sha256"] = {k: v for p in pools for k, v in p.attrs.get("files_sha256", {}).items()}
    mixed.attrs["dataset_revision"] = ", ".join(f"{c}@{r}" for c, r in found.items()) or None
    return mixed


def prepare(name: str, spec: dict, tokenizer=None, work_dir=None) -> pd.DataFrame:
    """The pool of a dataset: columns document_id, sha256 and text (or input_ids; or for an
    image dataset the images of its tasks, see images.prepare_images). A streamed hub
    dataset keeps its download's parts in ``work_dir`` until it is complete; its commit is
    in the pool's ``attrs["dataset_revision"]`` (stored in the parquet file)."""
    if spec["source"] in ("hub", "files"):
        return prepare_texts(name, spec, work_dir)
    if spec["source"] == "mix":
        return prepare_mix(name, spec, work_dir)
    if spec["source"] == "ginc":
        return prepare_ginc(name, spec)
    if spec["source"] in IMAGE_SOURCES:
        from .images import prepare_images

        path, revision = dataset_source(spec) if spec["source"] == "hub_images" else (None, None)
        pool = prepare_images(name, {**spec, "path": path, "revision": revision} if path else spec)
        pool.attrs["dataset_revision"] = revision
        return pool
    return prepare_bound(name, spec, tokenizer)


def _text_columns(ds, spec: dict, name: str):
    """The dataset reduced to its text field and the filter's field, or DataError naming a
    missing one (some streaming datasets only know their columns after the first row)."""
    field, subset = spec["text_field"], spec.get("filter")
    columns = ds.column_names or list(next(iter(ds)).keys())
    wanted = {"text_field": field, "filter.field": subset["field"].split(".")[0] if subset else field}
    for key, column in wanted.items():
        if column not in columns:
            raise DataError(
                f"dataset '{name}': {key.replace('_', ' ')} '{column}' not found; available fields: "
                f"{', '.join(columns)}; set datasets.{name}.{key}"
            )
    return ds.select_columns(list(dict.fromkeys(wanted.values())))
