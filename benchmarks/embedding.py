"""The engine against the straightforward baseline, in one process, on the same batch.

    python benchmarks/embedding.py                      # CPU tiny probe, 2 threads
    python benchmarks/embedding.py --device cuda --gpt2-size
    python benchmarks/embedding.py --scaling 50,100,200 --layers 1 --width 32 --sequences 16 --length 32

Timed runs use the reference variant as the workflow runs it (dropout on, sampled targets);
the comparison of the embeddings uses the same probe with dropout off and the same given
targets, so all implementations must agree to float rounding. Lockstep K embeds K batches
(the same tokens under K batch indices, so K seeds) fine-tuned together; its times are per
embedding. Last line: ``speedup <baseline / engine>x lockstep <baseline / best lockstep>x
max_rel_diff <value>`` (the largest relative difference of the engine's and every lockstep's
embedding from the baseline's).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

# Threads sleep rather than spin while waiting: on a shared machine (more runnable threads
# than cores) spinning OpenMP threads make every timing several times slower and erratic.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT.parent / "src"), str(ROOT)]

from baseline import baseline_embed  # noqa: E402
from memory import PeakMemory  # noqa: E402

from task2vec_diversity.lockstep import embed_batches  # noqa: E402
from task2vec_diversity.task2vec import Settings, embed  # noqa: E402


def probe(args, dropout: float) -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=args.vocab,
        n_positions=max(args.length, 128) if not args.gpt2_size else 1024,
        n_embd=args.width,
        n_layer=args.layers,
        n_head=args.heads,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=args.vocab - 1,
        eos_token_id=args.vocab - 1,
        loss_type="ForCausalLM",
    )
    return GPT2LMHeadModel(config).to(args.device)


def batch(args, eos_id: int):
    """Random tokens; a quarter of the sequences right-padded with EOS after a random length."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, eos_id, (args.sequences, args.length), generator=g)
    mask = torch.ones_like(ids)
    padded = torch.randperm(args.sequences, generator=g)[: args.sequences // 4]
    for row, length in zip(padded.tolist(), torch.randint(8, args.length, (len(padded),), generator=g).tolist()):
        ids[row, length:], mask[row, length:] = eos_id, 0
    targets = torch.randint(0, eos_id + 1, ids.shape, generator=g)  # EOS included: ignored targets
    return ids.to(args.device), mask.to(args.device), targets.to(args.device)


def run_engine(model, ids, mask, settings, eos_id, targets=None):
    result = embed(copy.deepcopy(model), ids, mask, settings, 0, eos_id, targets=targets)
    return result.vector, result.finetune_seconds, result.fisher_seconds


def run_lockstep(k, model, ids, mask, settings, eos_id, targets=None):
    """K embeddings fine-tuned together; (first vector, fine-tuning and Fisher seconds per embedding)."""
    batches = {index: (ids, mask) for index in range(k)}
    given = None if targets is None else dict.fromkeys(batches, targets)
    results = embed_batches(copy.deepcopy(model), batches, settings, eos_id, targets=given)
    first = results[0]
    return first.vector, first.finetune_seconds, sum(r.fisher_seconds for r in results.values()) / k


def run_baseline(model, ids, mask, settings, eos_id, targets=None):
    return baseline_embed(model, ids, mask, settings, 0, eos_id, targets=targets)


def timed(fn, device, per=1):
    with PeakMemory(device) as peak:
        start = time.perf_counter()
        vector, finetune_s, fisher_s = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        total = (time.perf_counter() - start) / per
    return vector, {"fine-tune": finetune_s, "Fisher": fisher_s, "total": total}, peak


def scaling(args, sizes, eos_id):
    """Engine only: N batches embedded one after the other, as the workflow does (fresh copy each)."""
    model = probe(args, dropout=0.1)
    ids, mask, _ = batch(args, eos_id)
    settings = Settings(variant="reference", epochs=args.epochs)
    for n in sizes:
        start = time.perf_counter()
        for index in range(n):
            embed(copy.deepcopy(model), ids, mask, settings, index, eos_id)
        seconds = time.perf_counter() - start
        print(f"{n:5d} batches: {seconds:7.2f} s, {seconds / n:.3f} s per batch")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each implementation (medians)")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--sequences", type=int, default=512)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--gpt2-size", action="store_true", help="GPT-2 124M architecture (random weights)")
    parser.add_argument("--scaling", default="", help="comma-separated numbers of batches: engine time for each")
    parser.add_argument("--lockstep", default="1,4,8", help="comma-separated K of the lockstep runs ('' for none)")
    args = parser.parse_args(argv)
    if args.gpt2_size:
        args.layers, args.width, args.heads, args.vocab = 12, 768, 12, 50257
    torch.set_num_threads(args.threads)
    eos_id = args.vocab - 1
    settings = Settings(variant="reference", epochs=args.epochs)
    if args.scaling:
        print(
            f"probe: {args.layers} layers, width {args.width}, vocab {args.vocab}; batches of {args.sequences} x "
            f"{args.length}, {args.epochs} epochs + Fisher; load average {os.getloadavg()[0]:.1f}"
        )
        return scaling(args, [int(n) for n in args.scaling.split(",")], eos_id)
    ids, mask, targets = batch(args, eos_id)
    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU, {args.threads} threads"
    print(
        f"probe: {args.layers} layers, width {args.width}, vocab {args.vocab}; batch {tuple(ids.shape)}, "
        f"{args.epochs} epochs + Fisher, reference variant; {device_name}; torch {torch.__version__}; "
        f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}; load average {os.getloadavg()[0]:.1f}"
    )

    impls = {"baseline": run_baseline, "engine": run_engine}
    per = {"baseline": 1, "engine": 1}
    for k in [int(k) for k in args.lockstep.split(",") if k]:
        impls[f"lock K={k}"] = lambda *a, k=k: run_lockstep(k, *a)
        per[f"lock K={k}"] = k
    reference = probe(args, dropout=0.1)
    times = {name: [] for name in impls}
    peaks = {name: 0 for name in impls}
    for r in range(args.repeats):  # interleaved, so that load from other processes hits all alike
        for name, fn in impls.items():
            _, t, peak = timed(lambda fn=fn: fn(reference, ids, mask, settings, eos_id), args.device, per[name])
            times[name].append(t)
            peaks[name] = max(peaks[name], peak.bytes)
            print(f"  run {r + 1} {name:8s} " + "  ".join(f"{k} {v:7.2f} s" for k, v in t.items()), flush=True)

    no_dropout = probe(args, dropout=0.0)
    vectors = {name: fn(no_dropout, ids, mask, settings, eos_id, targets)[0] for name, fn in impls.items()}
    a = vectors["baseline"].astype(np.float64)
    tiny = np.finfo(np.float32).tiny
    rel = {
        name: float(np.max(np.abs(v.astype(np.float64) - a) / np.maximum(np.abs(a), tiny)))
        for name, v in vectors.items()
    }
    max_rel_diff = max(rel.values())

    medians = {name: {k: statistics.median(t[k] for t in times[name]) for k in times[name][0]} for name in impls}
    memory = "GPU max allocated" if args.device.startswith("cuda") else "peak RSS"
    print(f"medians of {args.repeats} run(s), seconds per embedding:")
    header = f"{'fine-tune':>10s} {'Fisher':>10s} {'total':>10s} {'vs baseline':>12s} {memory:>18s} {'rel. diff':>10s}"
    print(f"  {'':10s} {header}")
    for name in impls:
        m = medians[name]
        print(
            f"  {name:10s} {m['fine-tune']:9.2f}s {m['Fisher']:9.2f}s {m['total']:9.2f}s "
            f"{medians['baseline']['total'] / m['total']:11.2f}x {peaks[name] / 2**20:14.0f} MiB {rel[name]:10.2g}"
        )
    ratio = {k: medians["engine"][k] / medians["baseline"][k] for k in medians["engine"]}
    print("  engine / baseline: " + "  ".join(f"{k} {v:.3f}" for k, v in ratio.items()))
    for name in impls:
        if name != "baseline":
            paired = [e["total"] / b["total"] for b, e in zip(times["baseline"], times[name])]
            print(f"  {name} / baseline total, run by run: " + " ".join(f"{r:.3f}" for r in paired))
    print(f"load average {os.getloadavg()[0]:.1f}")
    print(f"embedding of {len(a)} values, dropout off, same targets: max relative difference {max_rel_diff:.3g}")
    locks = [name for name in impls if name.startswith("lock")]
    best = max((medians["baseline"]["total"] / medians[name]["total"] for name in locks), default=float("nan"))
    print(f"speedup {1 / ratio['total']:.3f}x lockstep {best:.3f}x max_rel_diff {max_rel_diff:.3g}")


if __name__ == "__main__":
    main()
