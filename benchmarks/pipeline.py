"""The demo pipeline's overhead against its embedding compute, measured in one run.

    python benchmarks/pipeline.py                 # the demo config, one job at a time
    python benchmarks/pipeline.py --cores 2

Runs ``snakemake`` on config/config.yaml in a fresh temporary directory and reads back, from
every embedding store, the seconds spent fine-tuning and in the Fisher pass (the embedding
compute). With ``--cores 1`` the jobs run one after another, so the wall time less that
compute is the pipeline's overhead: process starts, imports, probe loads, data generation,
sampling, I/O, distances, the report and Snakemake itself. Per rule it prints the sum of
its jobs' wall times, from each job's logged start to the next logged event. Last line:
``overhead <seconds> s embedding <seconds> s ratio <overhead / embedding>``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from task2vec_diversity.store import open_group  # noqa: E402

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")


def rule_times(log: str) -> dict[str, float]:
    """Seconds per rule: from each job's logged start to the next logged event (serial runs)."""
    events = []  # (time, rule or None)
    stamp = None
    for line in log.splitlines():
        found = STAMP.match(line.strip())
        if found:
            stamp = datetime.strptime(found.group(1), "%a %b %d %H:%M:%S %Y")
            events.append((stamp, None))
            continue
        rule = RULE.match(line.strip())
        if rule and events:
            events[-1] = (events[-1][0], rule.group(1))
    per_rule = defaultdict(float)
    for (start, rule), (end, _) in zip(events, events[1:]):
        if rule:
            per_rule[rule] += (end - start).total_seconds()
    return dict(per_rule)


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
    print(f"demo on {args.cores} core(s): wall {wall:.1f} s, {len(attrs)} embeddings")
    print(f"embedding compute: fine-tuning {finetune:.1f} s + Fisher {fisher:.1f} s = {embedding:.1f} s")
    print("wall seconds per rule (job starts to next event):")
    for rule, seconds in sorted(rule_times(result.stderr).items(), key=lambda item: -item[1]):
        print(f"  {rule:24s} {seconds:7.1f}")
    overhead = wall * args.cores - embedding if args.cores == 1 else wall - embedding / args.cores
    print(f"overhead {overhead:.1f} s embedding {embedding:.1f} s ratio {overhead / embedding:.3f}")


if __name__ == "__main__":
    main()
