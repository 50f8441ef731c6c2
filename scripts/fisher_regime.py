"""The Fisher regime of a dataset's embeddings (coordinates and mass above the distance's
1e-8) and the decomposition of its pairs' distances by module (decomposition.py)."""

import numpy as np
import pandas as pd
import torch

from task2vec_diversity.decomposition import (
    DECOMPOSITION_COLUMNS,
    decompose,
    decomposition_rows,
    group_regime,
    layout,
    regime,
    token_presence,
)
from task2vec_diversity.probe import load_model
from task2vec_diversity.provenance import load_embeddings
from task2vec_diversity.runner import compute, run
from task2vec_diversity.store import open_group


def main(snakemake, log):
    torch.set_num_threads(snakemake.threads)
    batches = open_group(snakemake.input.batches)
    identity = snakemake.params.identity
    vectors, attrs = load_embeddings(snakemake.input.embeddings, identity, batches.attrs)
    blocks = layout(load_model(identity["probe"], "cpu"))
    token_rows = sum(size for _, group, size in blocks if group == "token")
    with compute(log.info, "decomposition"):
        n = len(vectors)
        present = token_presence(batches["input_ids"][:n], batches["attention_mask"][:n], token_rows)
        contributions, direct = decompose(vectors, blocks, present)
        rows = decomposition_rows(attrs["dataset"], contributions, group_regime(vectors, blocks))
        overall = regime(vectors)
    rows[-1].update(
        coordinates_above_eps=overall["fisher_coordinates_above_eps"], mass_above_eps=overall["fisher_mass_above_eps"]
    )
    worst = float(np.max(np.abs(contributions.sum(axis=1) - direct))) if len(direct) else 0.0
    table = pd.DataFrame(rows, columns=DECOMPOSITION_COLUMNS)
    table.to_csv(snakemake.output[0], index=False)
    log.info("decomposition of %s (largest |sum - distance| %.3g):\n%s", attrs["dataset"], worst, table.to_string())


run(snakemake, main)  # noqa: F821
