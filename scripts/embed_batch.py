"""Task2Vec embedding of one batch: one job, one Zarr store with its provenance."""

import time

import torch

from task2vec_diversity.probe import load_model, resolved_revision
from task2vec_diversity.runner import library_versions, run
from task2vec_diversity.store import open_group, write_arrays
from task2vec_diversity.task2vec import Settings, embed


def main(snakemake, log):
    start = time.perf_counter()
    torch.set_num_threads(snakemake.threads)
    identity = snakemake.params.identity
    device = snakemake.params.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    index = int(snakemake.wildcards.batch)
    batches = open_group(snakemake.input.batches)
    input_ids = torch.as_tensor(batches["input_ids"][index], dtype=torch.long, device=device)
    attention_mask = torch.as_tensor(batches["attention_mask"][index], dtype=torch.long, device=device)
    model = load_model(identity["probe"], device)
    settings = Settings(**identity["task2vec"])
    log.info("batch %d: %s tokens on %s, probe %s", index, tuple(input_ids.shape), device, identity["probe"]["id"])
    result = embed(model, input_ids, attention_mask, settings, index, batches.attrs["eos_token_id"], log.info)
    log.info(
        "fine-tuning %.2f s, Fisher %.2f s, embedding of %d values",
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
        "probe_revision": resolved_revision(identity["probe"], model),
        "epoch_losses": result.epoch_losses,
        "final_loss": result.epoch_losses[-1] if result.epoch_losses else None,
        "finetune_seconds": result.finetune_seconds,
        "fisher_seconds": result.fisher_seconds,
        "empty_fisher_minibatches": result.empty_minibatches,
        "device": device,
        "versions": library_versions(),
    }
    attrs["wall_seconds"] = time.perf_counter() - start
    write_arrays(snakemake.output[0], {"embedding": result.vector}, attrs)


run(snakemake, main)  # noqa: F821
