"""Task2Vec embeddings of a shard of consecutive batches in one process: one Zarr store per
batch, each with its provenance."""

import time

import torch

from task2vec_diversity.probe import load_model, resolved_revision
from task2vec_diversity.runner import library_versions, run
from task2vec_diversity.shard import batch_index, embed_shard
from task2vec_diversity.store import open_group, write_arrays
from task2vec_diversity.task2vec import Settings


def main(snakemake, log):
    start = time.perf_counter()
    torch.set_num_threads(snakemake.threads)
    identity = snakemake.params.identity
    device = snakemake.params.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    outputs = {batch_index(path): path for path in snakemake.output}
    batches = open_group(snakemake.input.batches)
    tokens = {
        i: tuple(
            torch.as_tensor(batches[name][i], dtype=torch.long, device=device)
            for name in ("input_ids", "attention_mask")
        )
        for i in outputs
    }
    input_ids = next(iter(tokens.values()))[0]
    model = load_model(identity["probe"], device)
    revision = resolved_revision(identity["probe"], model)
    settings = Settings(**identity["task2vec"])
    versions = library_versions()
    log.info(
        "batches %s of %s: %s tokens each on %s, probe %s (%s); start-up %.2f s",
        ", ".join(map(str, outputs)),
        snakemake.wildcards.dataset,
        tuple(input_ids.shape),
        device,
        identity["probe"]["id"],
        revision,
        time.perf_counter() - start,
    )
    eos_id = batches.attrs["eos_token_id"]
    last = time.perf_counter()
    for index, result in embed_shard(model, tokens, settings, eos_id, log.info):
        log.info(
            "batch %d: fine-tuning %.2f s, Fisher %.2f s, embedding of %d values",
            index,
            result.finetune_seconds,
            result.fisher_seconds,
            len(result.vector),
        )
        if result.empty_minibatches:
            log.warning("%d Fisher mini-batches had no target left and added nothing", result.empty_minibatches)
        attrs = {
            "identity": identity,
            "dataset": snakemake.wildcards.dataset,
            "batch": index,
            "batch_size": int(input_ids.shape[0]),
            "max_length": int(input_ids.shape[1]),
            "tokens_sha256": batches.attrs["tokens_sha256"][index],
            "seed": settings.seed + index,
            "probe_revision": revision,
            "epoch_losses": result.epoch_losses,
            "final_loss": result.epoch_losses[-1] if result.epoch_losses else None,
            "finetune_seconds": result.finetune_seconds,
            "fisher_seconds": result.fisher_seconds,
            "empty_fisher_minibatches": result.empty_minibatches,
            "device": device,
            "versions": versions,
            "wall_seconds": time.perf_counter() - last,
        }
        last = time.perf_counter()
        write_arrays(outputs[index], {"embedding": result.vector}, attrs)
    log.info("shard done in %.2f s", time.perf_counter() - start)


run(snakemake, main)  # noqa: F821
