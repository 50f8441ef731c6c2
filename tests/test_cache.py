"""The cache survives code edits and execution settings; a job that asked for a GPU gets one.

The workflow (Snakefile, rules, scripts, library, profiles) is copied into the test's directory
so that its files can be touched without touching the checkout.
"""

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from task2vec_diversity import gpus
from task2vec_diversity.store import open_group

from .test_workflow import ROOT, planned_jobs

pytestmark = pytest.mark.workflow

WORKFLOW_PARTS = ("Snakefile", "rules", "scripts", "src", "profiles", "envs", "report")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    """A copy of the workflow and a finished run of one generated dataset: 10 batches, one job."""
    base = tmp_path_factory.mktemp("cache")
    code = base / "code"
    for part in WORKFLOW_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, code / part, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (code / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, code / part)
    workdir = base / "run"
    workdir.mkdir()
    config = {
        "probe": {"build": {"n_symbols": 20, "n_layer": 1, "n_embd": 16, "n_head": 2, "n_positions": 16}},
        "task2vec": {"epochs": 1, "minibatch_size": 2, "embeddings_per_job": 10, "device": "cpu"},
        "sampling": {"n_batches": 10, "batch_size": 4, "max_length": 16},
        "report": {"bootstrap_replicates": 100},
        "datasets": {"upper_bound": {"source": "upper_bound"}},
    }
    result = run(code, workdir, config)
    assert result.returncode == 0, result.stderr[-3000:]
    return code, workdir, config


def run(code: Path, workdir: Path, config: dict, *args: str, env=None) -> subprocess.CompletedProcess:
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(code / "Snakefile"), "--cores", "2", "-d", str(workdir)]
    environ = {**os.environ, **(env or {})}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600, env=environ)


def nothing_to_do(result) -> bool:
    assert result.returncode == 0, result.stderr[-3000:]
    return "Nothing to be done" in result.stdout + result.stderr


def stores(workdir: Path) -> dict:
    """Every embedding store of the run: path -> modification time."""
    return {p: p.stat().st_mtime_ns for p in sorted((workdir / "results/embeddings").glob("*/*/batch*.zarr"))}


def test_code_edits_and_execution_settings_rerun_nothing(copy):
    code, workdir, config = copy
    later = time.time() + 5
    touched = 0
    for part in ("scripts", "src", "rules", "envs", "Snakefile"):
        for path in [code / part, *(code / part).rglob("*")] if (code / part).is_dir() else [code / part]:
            if path.is_file() and not path.is_symlink():
                os.utime(path, (later, later))
                touched += 1
    assert touched > 30
    moved = {**config, "task2vec": {**config["task2vec"], "device": "cuda", "embeddings_per_job": 1}}
    assert nothing_to_do(run(code, workdir, moved, "-n"))
    assert nothing_to_do(run(code, workdir, {**config, "task2vec": {**config["task2vec"], "device": "auto"}}, "-n"))
    # 3 a job: jobs of 0-2, 3-5, 6-8 and 9 alone, other rules, the same stores
    assert nothing_to_do(
        run(code, workdir, {**config, "task2vec": {**config["task2vec"], "embeddings_per_job": 3}}, "-n")
    )
    # without the workflow profile (Snakemake's default triggers) the same edit re-embeds everything
    legacy = run(code, workdir, config, "-n", "--workflow-profile", "none")
    assert planned_jobs(legacy)["embed_shard"] == 1 and "code has changed" in legacy.stdout + legacy.stderr


def test_identity_and_report_settings_still_rerun(copy):
    code, workdir, config = copy
    method = {**config, "task2vec": {**config["task2vec"], "epochs": 2}}
    jobs = planned_jobs(run(code, workdir, method, "-n"))
    assert {"embed_shard": 1, "distance_matrix": 1, "diversity_report": 1}.items() <= jobs.items(), jobs
    assert not {"build_probe", "prepare_dataset", "sample_batches"} & set(jobs), jobs  # the tokens stay
    report = {**config, "report": {**config["report"], "bootstrap_replicates": 50}}
    assert planned_jobs(run(code, workdir, report, "-n")) == {"diversity_report": 1, "all": 1}


def test_a_job_that_asked_for_a_gpu_and_sees_none_stops_with_one_line(copy):
    """device auto in a SLURM job asks for a GPU; CUDA_VISIBLE_DEVICES empty: it sees none (on any machine)."""
    code, workdir, config = copy
    before = stores(workdir)
    more = {**config, "task2vec": {**config["task2vec"], "device": "auto"}, "sampling": {**config["sampling"]}}
    more["sampling"]["n_batches"] = 20  # one more shard to embed
    env = {"CUDA_VISIBLE_DEVICES": "", "SLURM_JOB_ID": "1"}
    result = run(code, workdir, more, "--resources", "gpu=1", env=env)
    assert result.returncode != 0
    log = next((workdir / "logs/embed_shard/upper_bound").glob("*/shard001.log")).read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "embed_shard asked for a GPU but sees none" in errors[0], log
    assert "CUDA_VISIBLE_DEVICES is ''" in errors[0] and "task2vec.device: cpu" in errors[0]
    assert "Traceback" not in log and "Traceback" not in result.stderr
    assert stores(workdir) == before  # the finished shard untouched, nothing half-written
    assert (workdir / "results/report/diversity.csv").exists()
    assert open_group(next(iter(before)))["embedding"].shape[0] > 0


def test_gpus_asked_for():
    assert gpus.requested("cpu", cluster=True, environ={}) == 0
    assert gpus.requested("cuda", cluster=False, environ={"CUDA_VISIBLE_DEVICES": ""}) == 1
    # auto: on a cluster, in a SLURM job, or where a GPU shows
    assert gpus.requested("auto", cluster=True, environ={"CUDA_VISIBLE_DEVICES": ""}) == 1
    assert gpus.requested("auto", cluster=False, environ={"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": ""}) == 1
    assert gpus.requested("auto", cluster=False, environ={"CUDA_VISIBLE_DEVICES": "0,1"}) == 1
    assert gpus.requested("auto", cluster=False, environ={"CUDA_VISIBLE_DEVICES": ""}) == 0
    assert gpus.requested("auto", cluster=False, environ={"CUDA_VISIBLE_DEVICES": "-1"}) == 0

    class Resources:
        def __init__(self, **values):
            self.__dict__.update(values)

    assert not gpus.asked(Resources(gpu=0)) and not gpus.asked(Resources())
    assert gpus.asked(Resources(gpu=1)) and gpus.asked(Resources(gpu=0, gres="gpu:a100:1"))
    assert gpus.job_device(Resources(gpu=0)) == "cpu"


def test_device_cuda_without_a_gpu_is_one_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a node without driver
    with pytest.raises(gpus.GPUError, match="asked for a GPU but sees none") as error:
        gpus.job_device(type("Resources", (), {"gpu": 1})(), environ={})
    assert "\n" not in str(error.value)
    with pytest.raises(gpus.GPUError, match="CUDA_VISIBLE_DEVICES is ''"):
        gpus.job_device(type("Resources", (), {"gpu": 1})(), environ={"CUDA_VISIBLE_DEVICES": ""})


def test_local_jobs_take_different_gpus_and_wait_for_a_free_one(tmp_path):
    held = len(gpus._held)
    assert [gpus.take_slot(2, tmp_path), gpus.take_slot(2, tmp_path)] == [0, 1]
    got = []
    waiter = threading.Thread(target=lambda: got.append(gpus.take_slot(2, tmp_path, poll=0.05)))
    waiter.start()
    time.sleep(0.3)
    assert not got  # both GPUs taken: the third job waits
    gpus._held.pop(held + 1).close()  # the job on GPU 1 ends
    waiter.join(timeout=5)
    assert got == [1]
    for lock in gpus._held[held:]:
        lock.close()
    del gpus._held[held:]


def test_more_batches_in_jobs_of_any_size_embed_only_the_new_ones_and_the_shard_they_share(copy):
    """10 batches embedded 10 a job, then 13 at 4 a job: jobs 0-3, 4-7, 8-11, 12. Only 8-11 and
    12 run; 8 and 9 are embedded again, bit for bit what the first run wrote."""
    code, workdir, config = copy
    before = stores(workdir)
    old = {p.name: open_group(p)["embedding"][:] for p in before}
    more = {**config, "task2vec": {**config["task2vec"], "embeddings_per_job": 4}}
    more["sampling"] = {**config["sampling"], "n_batches": 13}
    jobs = planned_jobs(run(code, workdir, more, "-n"))
    embedding = {rule: n for rule, n in jobs.items() if rule.startswith("embed_shard")}
    assert embedding == {"embed_shard_0008_0011": 1, "embed_shard_0012_0012": 1}, jobs
    result = run(code, workdir, more)
    assert result.returncode == 0, result.stderr[-3000:]
    after = stores(workdir)
    assert len(after) == 13
    for path, mtime in before.items():
        assert (after[path] == mtime) == (path.name not in ("batch0008.zarr", "batch0009.zarr")), path
        assert (open_group(path)["embedding"][:] == old[path.name]).all(), path
    logs = workdir / "logs/embed_shard/upper_bound"
    assert sorted(p.name for p in logs.glob("*/batches*.log")) == ["batches0008-0011.log", "batches0012-0012.log"]
