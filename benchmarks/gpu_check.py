"""The engine on one GPU: one-at-a-time and lockstep, fp32 / TF32 / bf16, and the distance matrices.

    python benchmarks/gpu_check.py                       # one GPU, at most 8 minutes
    python benchmarks/gpu_check.py --device cpu --tiny   # a tiny probe on the CPU, under a minute (CI)

GPT-2 size (124M parameters, random weights), batches of 512 x 128 random tokens, 10 epochs +
Fisher, reference variant (dropout on). The Monte-Carlo targets are given (the same for every
run), so that a reduced-precision lockstep run and its fp32 counterpart differ by their arithmetic
only: the same dropout masks (each batch's own stream, seed + index) and the same targets. Rows:
one-at-a-time fp32 (``embed``), then lockstep K = 4, 8, 16 in fp32, TF32 and bf16: seconds per
embedding, peak memory, the largest relative difference of the embeddings from the fp32 lockstep
run of the same K, and the largest absolute difference of their pairwise distances; a setting is
"within" tolerance when those are at most 1e-3 and 1e-4. Then the 200 x 200 and the
3,000 x 3,000 distance matrices (synthetic GPT-2-shaped embeddings). Runs past the time budget are
skipped and said so. Last line: ``gpu <best seconds per embedding within tolerance> <setting>``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/embedding.py

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "src"), str(ROOT)]

from distance import embeddings  # noqa: E402
from memory import PeakMemory  # noqa: E402

from task2vec_diversity.distance import distance_matrix  # noqa: E402
from task2vec_diversity.lockstep import embed_batches  # noqa: E402
from task2vec_diversity.task2vec import Settings, embed  # noqa: E402

RTOL, DISTANCE_ATOL = 1e-3, 1e-4
FULL = {"layers": 12, "width": 768, "heads": 12, "vocab": 50257, "sequences": 512, "length": 128, "epochs": 10}
TINY = {"layers": 2, "width": 32, "heads": 2, "vocab": 300, "sequences": 16, "length": 32, "epochs": 2}


def probe(size: dict, device: str) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=size["vocab"], n_positions=max(size["length"], 128), n_embd=size["width"],
        n_layer=size["layers"], n_head=size["heads"], bos_token_id=size["vocab"] - 1, eos_token_id=size["vocab"] - 1,
    )  # fmt: skip
    return GPT2LMHeadModel(config).to(device)


def batch(size: dict, device: str):
    g = torch.Generator().manual_seed(1)
    eos = size["vocab"] - 1
    ids = torch.randint(0, eos, (size["sequences"], size["length"]), generator=g)
    mask = torch.ones_like(ids)
    for row in range(0, size["sequences"], 4):  # a quarter right-padded
        cut = int(torch.randint(8, size["length"], (1,), generator=g))
        ids[row, cut:], mask[row, cut:] = eos, 0
    targets = torch.randint(0, eos + 1, ids.shape, generator=g)
    return ids.to(device), mask.to(device), targets.to(device)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def lockstep(model, ids, mask, targets, settings, eos, k, device):
    batches = {index: (ids, mask) for index in range(k)}
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        results = embed_batches(copy.deepcopy(model), batches, settings, eos, targets=dict.fromkeys(batches, targets))
        sync(device)
        seconds = (time.perf_counter() - start) / k
    return np.stack([results[i].vector for i in batches]).astype(np.float64), seconds, peak.bytes


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), np.finfo(np.float32).tiny)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a tiny probe and small matrices (CI)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument(
        "--budget", type=float, default=None, help="seconds; later runs are skipped (default 420, tiny 40)"
    )
    parser.add_argument("--ks", default=None, help="lockstep K, comma-separated (default 4,8,16; tiny 2,4)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = TINY if args.tiny else FULL
    budget = args.budget or (40.0 if args.tiny else 420.0)
    ks = args.ks or ("2,4" if args.tiny else "4,8,16")
    began = time.perf_counter()
    device = args.device
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU, {args.threads} threads"
    print(
        f"gpu_check: {name}; torch {torch.__version__}; probe {size['layers']} layers, width {size['width']}, vocab "
        f"{size['vocab']}; batches {size['sequences']} x {size['length']}, {size['epochs']} epochs + Fisher, reference "
        f"variant, given targets; tolerance: embedding rtol {RTOL:g}, distances {DISTANCE_ATOL:g} absolute"
    )
    model = probe(size, device)
    ids, mask, targets = batch(size, device)
    eos = size["vocab"] - 1
    settings = {p: Settings(epochs=size["epochs"], precision=p) for p in ("fp32", "tf32", "bf16")}
    memory = "GPU max allocated" if device.startswith("cuda") else "peak RSS"
    columns = f"{'s / embedding':>14s} {memory + ' MiB':>22s} {'max rel diff':>13s} {'max |dist diff|':>16s}  within"
    print(f"{'run':24s} {columns}")
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        embed(copy.deepcopy(model), ids, mask, settings["fp32"], 0, eos, targets=targets)
        sync(device)
        alone = time.perf_counter() - start
    print(f"{'one at a time fp32':24s} {alone:14.3f} {peak.bytes / 2**20:22.0f} {'':>13s} {'':>16s}  yes")
    best = (alone, "one-at-a-time-fp32")
    for k in [int(k) for k in ks.split(",")]:
        fp32 = None
        for p in ("fp32", "tf32", "bf16"):
            label = f"lockstep K={k} {p}"
            if time.perf_counter() - began > budget:
                print(f"{label:24s} skipped (past the {budget:.0f} s budget)")
                continue
            try:
                vectors, seconds, peak_bytes = lockstep(model, ids, mask, targets, settings[p], eos, k, device)
            except torch.OutOfMemoryError:
                print(f"{label:24s} out of memory")
                torch.cuda.empty_cache()
                continue
            if p == "fp32":
                fp32, rel, dist = vectors, 0.0, 0.0
                reference = distance_matrix(vectors, dtype=torch.float64, device=device) if k > 1 else None
            elif fp32 is None:
                print(f"{label:24s} {seconds:14.3f} {peak_bytes / 2**20:22.0f}  (no fp32 run to compare with)")
                continue
            else:
                rel = max_rel(vectors, fp32)
                dist = float(np.abs(distance_matrix(vectors, dtype=torch.float64, device=device) - reference).max())
            within = rel <= RTOL and dist <= DISTANCE_ATOL
            figures = f"{seconds:14.3f} {peak_bytes / 2**20:22.0f} {rel:13.2e} {dist:16.2e}"
            print(f"{label:24s} {figures}  {'yes' if within else 'no'}")
            if within and seconds < best[0]:
                best = (seconds, f"lockstep-K{k}-{p}")
    dim = 500 if args.tiny else 134_993
    for n, m in ((200, 200), (300, 300) if args.tiny else (3000, 3000)):
        if time.perf_counter() - began > budget + (10 if args.tiny else 60):
            print(f"distance matrix {n} x {m}: skipped (past the budget)")
            continue
        h = embeddings(n, dim)
        with PeakMemory(device) as peak:
            start = time.perf_counter()
            distance_matrix(h, device=device)
            sync(device)
            seconds = time.perf_counter() - start
        print(f"distance matrix {n} x {m} of {dim} values: {seconds:.2f} s, {peak.label}")
    print(f"total {time.perf_counter() - began:.0f} s")
    print(f"gpu {best[0]:.3f} {best[1]}")


if __name__ == "__main__":
    main()
