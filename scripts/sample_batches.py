"""Sample a dataset's batches, tokenise them with the probe's tokenizer, write the manifest.
For an image dataset: its tasks' images at the probe's geometry (its image processor) and
their labels."""

import json

from task2vec_diversity import images
from task2vec_diversity.batches import sample
from task2vec_diversity.config import check_length
from task2vec_diversity.inputs import library_version
from task2vec_diversity.probe import load_image_processor, load_tokenizer, max_positions
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import read_table, write_arrays, write_manifest


def main(snakemake, log):
    if snakemake.params.modality == "image":
        return sample_tasks(snakemake, log)
    sampling = snakemake.params.sampling
    # a hub probe's length is known once it is here: refused before any embedding
    check_length(snakemake.wildcards.dataset, sampling["max_length"], max_positions(snakemake.params.probe))
    tokenizer = load_tokenizer(snakemake.params.probe)
    pool = read_table(snakemake.input.documents)
    with compute(log.info, "sample"):
        arrays, manifest, hashes = sample(snakemake.wildcards.dataset, pool, sampling, tokenizer)
    attrs = {
        "dataset": snakemake.wildcards.dataset,
        "sampling": sampling,
        "probe": snakemake.params.probe,
        "tokenizer": type(tokenizer).__name__,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "vocab_size": len(tokenizer),
        "tokens_sha256": hashes,
        "dataset_revision": pool.attrs.get("dataset_revision"),  # the hub commit its documents came from
        "pool": pool.attrs,  # the pool's provenance: its files' hashes, rows dropped, library
        "library": library_version(),
    }
    manifest["sampling_seed"] = sampling["seed"]
    manifest["tokenizer"] = f"{snakemake.params.probe['id']} ({type(tokenizer).__name__})"
    attrs["manifest_sha256"] = write_manifest(manifest, snakemake.output.manifest)  # verified when read
    n, b, length = arrays["input_ids"].shape
    chunks = {"input_ids": (1, b, length), "attention_mask": (1, b, length)}
    dims = dict.fromkeys(chunks, ("batch", "document", "position"))
    write_arrays(snakemake.output.batches, arrays, attrs, chunks, dims)
    log.info("%d batches of %d documents, %d tokens, mean real tokens %.1f", n, b, length, manifest.n_tokens.mean())


def sample_tasks(snakemake, log):
    sampling = snakemake.params.sampling
    processor = load_image_processor(snakemake.params.probe)
    pool = read_table(snakemake.input.documents)
    with compute(log.info, "sample"):
        arrays, manifest, hashes = images.sample(snakemake.wildcards.dataset, pool, sampling, processor)
    attrs = {
        "kind": "image",
        "dataset": snakemake.wildcards.dataset,
        "sampling": sampling,
        "probe": snakemake.params.probe,
        "image_processor": json.loads(processor.to_json_string()),
        "tokens_sha256": hashes,  # one hash per task, of its pixels and labels
        "dataset_revision": pool.attrs.get("dataset_revision"),
        "pool": pool.attrs,
        "library": library_version(),
    }
    manifest["sampling_seed"] = sampling["seed"]
    manifest["image_processor"] = f"{snakemake.params.probe['id']} ({type(processor).__name__})"
    attrs["manifest_sha256"] = write_manifest(manifest, snakemake.output.manifest)  # verified when read
    n, b, *shape = arrays["pixels"].shape
    chunks = {"pixels": (1, b, *shape), "labels": (1, b)}
    dims = {"pixels": ("task", "image", "channel", "height", "width"), "labels": ("task", "image")}
    write_arrays(snakemake.output.batches, arrays, attrs, chunks, dims)
    log.info("%d tasks of %d images (%d-way, %d-shot), pixels %s", n, b, sampling["n_way"], sampling["k_shot"], shape)


run(snakemake, main)  # noqa: F821
