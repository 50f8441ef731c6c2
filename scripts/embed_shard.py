"""Task2Vec embeddings of a shard of consecutive batches (or, for an image dataset, few-shot
tasks) in one process: one Zarr store per batch, each with its provenance."""

import dataclasses
import time

import torch

from task2vec_diversity.gpus import job_device
from task2vec_diversity.noise import repeat_seed
from task2vec_diversity.paths import batch_index, batch_store
from task2vec_diversity.probe import load_image_processor, load_model, resolved_revision
from task2vec_diversity.runner import library_versions, run
from task2vec_diversity.shard import embed_shard
from task2vec_diversity.store import open_group, write_arrays
from task2vec_diversity.task2vec import Settings


def token_batches(batches, indices, probe, settings, device, log, lockstep=1):
    """The text probe and its embeddings of the shard's token batches."""
    tokens = {
        i: tuple(
            torch.as_tensor(batches[name][i], dtype=torch.long, device=device)
            for name in ("input_ids", "attention_mask")
        )
        for i in indices
    }
    model = load_model(probe, device)
    return model, embed_shard(model, tokens, settings, batches.attrs["eos_token_id"], log, lockstep)


def image_tasks(batches, indices, probe, settings, device, log, lockstep=1):
    """The image probe (with a classifier for the task's classes) and its embeddings of the
    shard's few-shot tasks, normalised by the probe's image processor."""
    from task2vec_diversity import images, vision  # imported here: text shards need neither (nor pandas)

    processor = load_image_processor(probe)
    tasks = {
        i: (
            images.normalise(processor, batches["pixels"][i]).to(device),
            torch.as_tensor(batches["labels"][i], dtype=torch.long, device=device),
        )
        for i in indices
    }
    model = load_model(probe, device, kind="image")
    vision.with_task_head(model, batches.attrs["sampling"]["n_way"])
    return model, vision.embed_tasks(model, tasks, settings, log)


def main(snakemake, log):
    start = time.perf_counter()
    torch.set_num_threads(snakemake.threads)
    identity = snakemake.params.identity
    # the rule's gpu resource says whether this job asked for a GPU (task2vec.device, see gpus.py)
    device = job_device(snakemake.resources, log.info, rule=snakemake.rule)
    # rule embed_noise: the first noise_batches batches again, with the seeds of re-embedding `repeat`
    repeat = getattr(snakemake.params, "repeat", 0)
    if repeat:
        outputs = {i: batch_store(snakemake.output[0], i) for i in range(snakemake.params.noise_batches)}
    else:  # rule embed_shard (or embed_shard_<first>_<last>): one store per batch of the shard
        outputs = {batch_index(store): store for store in snakemake.output}
    batches = open_group(snakemake.input.batches)
    kind = batches.attrs.get("kind", "text")
    settings = Settings(**identity["task2vec"])
    if repeat:
        settings = dataclasses.replace(settings, seed=repeat_seed(settings.seed, repeat))
    load = image_tasks if kind == "image" else token_batches
    lockstep = getattr(snakemake.resources, "lockstep", 1)  # text batches fine-tuned together
    model, embeddings = load(batches, list(outputs), identity["probe"], settings, device, log.info, lockstep)
    revision = resolved_revision(identity["probe"], model)
    versions = library_versions()
    sampling = batches.attrs["sampling"]
    log.info(
        "%s batches %s of %s: %d each on %s, probe %s (%s); start-up %.2f s",
        kind,
        ", ".join(map(str, outputs)),
        snakemake.wildcards.dataset,
        sampling["batch_size"],
        device,
        identity["probe"]["id"],
        revision,
        time.perf_counter() - start,
    )
    last = time.perf_counter()
    for index, result in embeddings:
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
            "batch_size": sampling["batch_size"],
            "max_length": sampling["max_length"],
            "tokens_sha256": batches.attrs["tokens_sha256"][index],
            "seed": settings.seed + index,
            "probe_revision": revision,
            "dataset_revision": batches.attrs.get("dataset_revision"),
            "epoch_losses": result.epoch_losses,
            "final_loss": result.epoch_losses[-1] if result.epoch_losses else None,
            "finetune_seconds": result.finetune_seconds,
            "fisher_seconds": result.fisher_seconds,
            "empty_fisher_minibatches": result.empty_minibatches,
            "device": device,
            "versions": versions,
            "wall_seconds": time.perf_counter() - last,
        }
        if repeat:
            attrs["repeat"] = repeat
        last = time.perf_counter()
        write_arrays(outputs[index], {"embedding": result.vector}, attrs, dims={"embedding": ("component",)})
    log.info("shard done in %.2f s", time.perf_counter() - start)


run(snakemake, main)  # noqa: F821
