"""The demo pipeline's overhead against its embedding compute, measured in one run.

    python benchmarks/pipeline.py                 # the demo config, one job at a time
    python benchmarks/pipeline.py --cores 2

Runs ``snakemake`` on config/config.yaml in a fresh temporary directory and splits its wall
time (with ``--cores N``: wall x N core-seconds, idle cores counted as overhead) into three
measured parts:

- embedding compute: the seconds spent fine-tuning and in the Fisher pass, read back from
  every embedding store (finetune_seconds, fisher_seconds);
- other compute: the ``compute <what> <seconds> s`` lines the jobs log (runner.compute):
  the probe's pre-training, dataset generation, sampling and tokenising, distances, the
  report's tables and figure;
- overhead proper, the rest: in the jobs, their start-up (interpreter, Snakemake's script
  preamble, the script's imports: from each process's start to its ``main``) and the rest
  of their time (lazy imports, probe and tokenizer loads, reading and writing stores, from
  the ``job seconds`` line each job logs at its end); outside the jobs, Snakemake itself
  (its start, the DAG, scheduling, the job's shell, interpreter exits). A job that logs no
  ``compute`` line (the alignment, sweep and decision reports) counts whole as overhead.

Per rule it prints the jobs' summed seconds of each part. The strict ratio is overhead
proper / embedding compute; the all-inclusive one (wall - embedding) / embedding also counts
the other compute. Last line, strict: ``overhead <seconds> s embedding <seconds> s ratio
<overhead proper / embedding>``; the line before it gives the all-inclusive ratio.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from task2vec_diversity.store import open_group  # noqa: E402

COMPUTE = re.compile(r" compute (\S+) ([\d.]+) s$")
JOB = re.compile(r" job seconds ([\d.]+) start-up ([\d.]+)$")
PARTS = ("jobs", "job_seconds", "startup", "compute", "embedding")


def rule_of(log: Path, logs: Path) -> str:
    """The rule of a job from its log path: logs/<rule>/... or logs/<rule>.log."""
    first = log.relative_to(logs).parts[0]
    return first.removesuffix(".log")


def job_timings(logs: Path, embedding_by_rule: dict) -> tuple[dict, dict]:
    """Per rule, the summed seconds of its jobs (PARTS, and the rest of them), and the other
    compute by what."""
    per_rule = defaultdict(lambda: dict.fromkeys(PARTS, 0.0))
    by_what = defaultdict(float)
    for log in sorted(logs.rglob("*.log")):
        rule = per_rule[rule_of(log, logs)]
        for line in log.read_text().splitlines():
            if found := COMPUTE.search(line):
                rule["compute"] += float(found.group(2))
                by_what[found.group(1)] += float(found.group(2))
            elif found := JOB.search(line):
                rule["jobs"] += 1
                rule["job_seconds"] += float(found.group(1))
                rule["startup"] += float(found.group(2))
    for rule, seconds in embedding_by_rule.items():
        per_rule[rule]["embedding"] += seconds
    for r in per_rule.values():  # what the job did besides its start-up and its compute
        r["rest"] = r["job_seconds"] - r["startup"] - r["compute"] - r["embedding"]
    return dict(per_rule), dict(by_what)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--configfile", default=str(ROOT / "config/config.yaml"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", workdir]
        command += ["--cores", str(args.cores), "--configfile", args.configfile]
        start = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode:
            sys.exit(result.stderr[-3000:])
        stores = sorted(Path(workdir, "results/embeddings").glob("*/*/batch*.zarr"))
        attrs = [dict(open_group(path).attrs) for path in stores]
        finetune = sum(a["finetune_seconds"] for a in attrs)
        fisher = sum(a["fisher_seconds"] for a in attrs)
        embedding = finetune + fisher
        per_rule, by_what = job_timings(Path(workdir, "logs"), {"embed_shard": embedding})
    total = wall * args.cores  # core-seconds; with one core, the wall time
    other = sum(by_what.values())
    startup = sum(r["startup"] for r in per_rule.values())
    in_jobs = sum(r["rest"] for r in per_rule.values())
    outside = total - sum(r["job_seconds"] for r in per_rule.values())
    overhead = total - embedding - other
    print(f"demo on {args.cores} core(s): wall {wall:.1f} s, {len(attrs)} embeddings")
    print(f"embedding compute: fine-tuning {finetune:.1f} s + Fisher {fisher:.1f} s = {embedding:.1f} s")
    print(f"other compute {other:.1f} s: " + ", ".join(f"{what} {s:.1f} s" for what, s in sorted(by_what.items())))
    print(
        f"overhead proper {overhead:.1f} s: job start-up (interpreter, preamble, imports) {startup:.1f} s, "
        f"rest of the jobs (lazy imports, loads, I/O) {in_jobs:.1f} s, outside the jobs (Snakemake) {outside:.1f} s"
    )
    print("per rule, summed over its jobs (seconds):")
    print(f"  {'rule':20s} {'jobs':>4s} {'job':>7s} {'start-up':>8s} {'rest':>7s} {'compute':>7s} {'embed':>7s}")
    for name, r in sorted(per_rule.items(), key=lambda item: -item[1]["job_seconds"]):
        print(
            f"  {name:20s} {r['jobs']:4.0f} {r['job_seconds']:7.1f} {r['startup']:8.1f} {r['rest']:7.1f} "
            f"{r['compute']:7.1f} {r['embedding']:7.1f}"
        )
    print(f"all-inclusive: overhead {total - embedding:.1f} s ratio {(total - embedding) / embedding:.3f}")
    print(f"overhead {overhead:.1f} s embedding {embedding:.1f} s ratio {overhead / embedding:.3f}")


if __name__ == "__main__":
    main()
