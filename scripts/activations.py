"""The activation baseline's vectors: the probe's mean last hidden state of each batch
(forward pass only, eval mode, padding masked; activations.py)."""

import numpy as np
import torch

from task2vec_diversity.activations import mean_hidden_states
from task2vec_diversity.gpus import job_device
from task2vec_diversity.probe import load_model, resolved_revision
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import open_group, write_arrays


def main(snakemake, log):
    torch.set_num_threads(snakemake.threads)
    device = job_device(snakemake.resources, log.info, rule=snakemake.rule)  # the rule's gpu resource (gpus.py)
    probe = snakemake.params.probe
    batches = open_group(snakemake.input.batches)
    model = load_model(probe, device)
    ids, masks = batches["input_ids"], batches["attention_mask"]
    with compute(log.info, "activations", needs=["torch"]):
        vectors = np.stack(
            [
                mean_hidden_states(
                    model,
                    torch.as_tensor(ids[i], dtype=torch.long, device=device),
                    torch.as_tensor(masks[i], dtype=torch.long, device=device),
                )
                for i in range(ids.shape[0])
            ]
        )
    attrs = {
        "dataset": snakemake.wildcards.dataset,
        "probe": probe,
        "probe_revision": resolved_revision(probe, model),
        "tokens_sha256": list(batches.attrs["tokens_sha256"]),
    }
    write_arrays(snakemake.output[0], {"activations": vectors}, attrs, dims={"activations": ("batch", "feature")})
    log.info("mean last hidden states of %d batches, width %d", *vectors.shape)


run(snakemake, main)  # noqa: F821
