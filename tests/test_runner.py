"""The jobs' timing lines (runner.py) and the pipeline benchmark that reads them back."""

import importlib.util
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from task2vec_diversity.runner import compute, process_seconds

ROOT = Path(__file__).parents[1]
_spec = importlib.util.spec_from_file_location("pipeline", ROOT / "benchmarks" / "pipeline.py")
pipeline = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipeline)


def test_compute_times_the_block_but_not_the_imports_it_needs(tmp_path, monkeypatch):
    (tmp_path / "slow_to_import.py").write_text("import time\ntime.sleep(0.5)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = []
    with compute(lines.append, "sleeping", needs=["slow_to_import"]):
        assert "slow_to_import" in sys.modules  # imported before the clock started
        time.sleep(0.2)
    [line] = lines
    found = pipeline.COMPUTE.search(" " + line)
    assert found and found.group(1) == "sleeping"
    assert 0.2 <= float(found.group(2)) < 0.5


def test_process_seconds_count_from_the_process_start():
    code = "import time; time.sleep(0.3); from task2vec_diversity import runner; print(runner.process_seconds())"
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    wall = time.perf_counter() - start
    assert 0.3 <= float(out) <= wall + 0.02  # 10 ms ticks
    assert 0 < process_seconds()


def test_a_job_logs_its_compute_and_total_and_the_benchmark_sums_them_per_rule(tmp_path):
    """Two jobs run through runner.run as scripts do; their logs are complete although the
    process ends with os._exit, and job_timings adds them up by rule."""
    script = textwrap.dedent(
        """
        import sys, time
        from types import SimpleNamespace
        from task2vec_diversity.runner import compute, run

        def main(snakemake, log):
            time.sleep(0.2)  # overhead
            with compute(log.info, "work"):
                time.sleep(0.3)

        run(SimpleNamespace(log=[sys.argv[1]]), main)
        print("not reached")
        """
    )
    (tmp_path / "job.py").write_text(script)
    logs = tmp_path / "logs"
    (logs / "rule_a").mkdir(parents=True)
    for log in (logs / "rule_a" / "x.log", logs / "rule_b.log"):
        done = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(log)], capture_output=True, text=True)
        assert done.returncode == 0 and "not reached" not in done.stdout
    per_rule, by_what = pipeline.job_timings(logs, {"rule_b": 1.5})
    assert set(per_rule) == {"rule_a", "rule_b"} and set(by_what) == {"work"}
    for rule in per_rule.values():
        assert rule["jobs"] == 1
        assert 0.3 <= rule["compute"] < 0.5
        assert rule["startup"] < rule["job_seconds"] - 0.5  # start-up ends before main's 0.5 s
    assert by_what["work"] == pytest.approx(per_rule["rule_a"]["compute"] + per_rule["rule_b"]["compute"])
    assert per_rule["rule_b"]["embedding"] == 1.5 and per_rule["rule_a"]["embedding"] == 0


def test_an_unexpected_error_leaves_its_traceback_in_the_rules_log(tmp_path):
    """A TypeError inside a job: its traceback goes into the log file Snakemake points at (not
    only stderr), with one line naming the error and where the traceback is; the job fails."""
    script = textwrap.dedent(
        """
        import sys
        from types import SimpleNamespace
        from task2vec_diversity.runner import run

        def inner():
            return {}.get(1, 2, 3)  # TypeError: get expected at most 2 arguments

        def main(snakemake, log):
            inner()

        run(SimpleNamespace(log=[sys.argv[1]], rule="sample_batches"), main)
        """
    )
    (tmp_path / "job.py").write_text(script)
    log = tmp_path / "job.log"
    done = subprocess.run([sys.executable, str(tmp_path / "job.py"), str(log)], capture_output=True, text=True)
    assert done.returncode == 1
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in inner" in text
    assert "unexpected error: TypeError: get expected at most 2 arguments" in text
    assert f"this job failed unexpectedly (the traceback is in {log})" in text
    assert text.count("Traceback") == 1 and done.stderr.count("Traceback") == 1  # once each, not twice
