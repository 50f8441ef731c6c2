"""benchmarks/gpu_check.py in its reduced CPU mode, so that the GPU check cannot rot."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_runs_on_the_cpu_with_a_tiny_probe():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--tiny", "--threads", "1"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"gpu \d+\.\d{3} (one-at-a-time-fp32|lockstep-K\d+-(fp32|tf32|bf16))", lines[-1]), lines[-1]
    assert any(line.startswith("lockstep K=2 fp32") for line in lines)
    assert any(line.startswith("distance matrix 200 x 200") for line in lines)
