"""The tiny workflow on a real one-node SLURM cluster, submitted with `snakemake --profile slurm`.

tests/slurm/up.sh brings the cluster up (munged, slurmctld, slurmd and, when installed, slurmdbd
with MariaDB) on loopback, everything under a temporary directory; tests/slurm/down.sh stops it by
PID file. It needs root and Debian's packages (tests/slurm/install.sh, run by .ci/run); without
them the tests skip and say why. The test profile is the user profile (profiles/slurm) with a
second profile on top that only points it at this cluster and shrinks memory to fit the machine.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml

from tests.test_fetch import check_offline, hub_config, hub_repositories, served
from tests.test_workflow import ROOT, planned_jobs, run_ok, tiny_config

pytestmark = pytest.mark.slurm

USER_PROFILE = ROOT / "profiles/slurm/config.yaml"
SLURM_SCRIPTS = ROOT / "tests/slurm"
RUN_LIMIT = 900  # seconds for one Snakemake run through SLURM; the tiny workflow takes 1-3 minutes
LOCAL_RULES = ("distance_matrix", "diversity_report")
SUBMITTED_RULES = ("build_probe", "prepare_dataset", "sample_batches")


def cpu_config(workdir: Path) -> dict:
    """The tiny workflow, embedded on CPUs: the cluster's GPUs are fake (device files, no CUDA)."""
    config = tiny_config(workdir)
    config["task2vec"]["device"] = "cpu"
    return config


def why_skip() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start munged, slurmctld and slurmd (run .ci/run as root)"
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    tools = ("munged", "slurmctld", "slurmd", "sbatch", "squeue")
    missing = [tool for tool in tools if not shutil.which(tool, path=search)]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): run tests/slurm/install.sh as root"
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        return "another slurmctld is already running on this machine"
    return None


@pytest.fixture(scope="module")
def cluster():
    """A one-node cluster for this module; yields what up.sh wrote to cluster.env."""
    reason = why_skip()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="t2v-slurm-", dir="/tmp"))  # short: MariaDB's socket lives in it
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
    try:
        start = time.monotonic()
        up = subprocess.run(
            ["bash", SLURM_SCRIPTS / "up.sh", root], capture_output=True, text=True, env=env, timeout=300
        )
        assert up.returncode == 0, up.stdout + up.stderr
        info = dict(line.split("=", 1) for line in (root / "cluster.env").read_text().split())
        info["bringup_seconds"] = f"{time.monotonic() - start:.1f}"
        print(f"SLURM up in {info['bringup_seconds']} s: {info}")
        yield info
    finally:
        subprocess.run(["bash", SLURM_SCRIPTS / "down.sh", root], env={**env, "PURGE": "1"}, timeout=120)


def cluster_profile(directory: Path, cluster: dict) -> Path:
    """The user's own profile on top of profiles/slurm (docs/slurm.md, "Your cluster"): this
    cluster's account, its partition for CPU jobs and for the embeddings, and memory that fits
    the node (the rules declare 4 GB and 16 GB; set-resources overrides only mem_mb). Nothing in
    profiles/slurm is edited or copied: its keys stay as they are."""
    user = yaml.safe_load(USER_PROFILE.read_text())
    defaults = {"slurm_partition": cluster["PARTITION"], "mem_mb": "500 * attempt"}
    profile = {"default-resources": defaults, "latency-wait": 5, "slurm-init-seconds-before-status-checks": 2}
    if cluster["WITH_DBD"] == "1":
        defaults["slurm_account"] = cluster["ACCOUNT"]
    else:  # no accounting: no account to check, and sacct does not work (MinJobAge >= 3 x 2 s)
        profile.update({"slurm-no-account": True, "slurm-status-command": "squeue"})
    # one thread per job on this small node, as in the local run the results are compared with
    profile["set-threads"] = {rule: 1 for rule in user.get("set-threads", {})}
    profile["set-resources"] = {rule: {"mem_mb": "500 * attempt"} for rule in SUBMITTED_RULES}
    profile["set-resources"]["embed_shard"] = {"mem_mb": "1000 * attempt", "slurm_partition": cluster["PARTITION"]}
    path = directory / "profile"
    path.mkdir(exist_ok=True)
    (path / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def run_on_slurm(workdir: Path, config: dict, cluster: dict, *args: str) -> tuple[int, str, float]:
    """`snakemake --profile slurm` typed at the repository root, bounded by timeout -k."""
    (workdir / "config").mkdir(exist_ok=True)
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    profile = cluster_profile(workdir, cluster)
    command = ["timeout", "-k", "10", str(RUN_LIMIT), sys.executable, "-m", "snakemake"]
    command += ["--profile", "slurm", "--profile", str(profile), "-d", str(workdir), "--verbose", *args]
    log = workdir / f"snakemake-{len(list(workdir.glob('snakemake-*.log')))}.log"
    start = time.monotonic()
    with log.open("w") as out:
        run = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_LIMIT + 60)
    code = run.returncode
    seconds = time.monotonic() - start
    if code == 124:  # a hung Snakemake leaves its lock; the jobs are cancelled by down.sh
        subprocess.run([sys.executable, "-m", "snakemake", "-d", str(workdir), "--unlock"], cwd=ROOT, timeout=120)
    return code, log.read_text(), seconds


def sbatch_calls(output: str) -> dict[str, list[str]]:
    """The plugin's sbatch lines (logged with --verbose), by rule."""
    calls: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("sbatch call: "):
            rule = re.search(r"--comment '?rule_(\w+?)(?:_wildcards_\S*?)?'? ", line).group(1)
            calls.setdefault(rule, []).append(line.removeprefix("sbatch call: ").split(" --wrap=")[0])
    return calls


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    config = cpu_config(workdir)
    code, output, seconds = run_on_slurm(workdir, config, cluster)
    assert code == 0, output[-5000:]
    print(f"tiny workflow through SLURM in {seconds:.0f} s")
    return workdir, config, output


def test_results_equal_a_local_run(slurm_run, tmp_path_factory):
    workdir, _, _ = slurm_run
    local = tmp_path_factory.mktemp("local")
    threads = [f"{rule}=1" for rule in yaml.safe_load(USER_PROFILE.read_text()).get("set-threads", {})]
    run_ok(local, cpu_config(local), *(["--set-threads", *threads] if threads else []))
    expected = pd.read_csv(local / "results/report/diversity.csv")
    pd.testing.assert_frame_equal(pd.read_csv(workdir / "results/report/diversity.csv"), expected, check_exact=True)


def test_jobs_went_through_sbatch_with_the_profile_resources(slurm_run, cluster):
    workdir, _, output = slurm_run
    calls = sbatch_calls(output)
    assert {"build_probe", "prepare_dataset", "sample_batches"} <= set(calls), calls.keys()
    assert not set(calls) & set(LOCAL_RULES), "local rules must not be submitted"
    for lines in calls.values():
        for line in lines:
            assert f"-p {cluster['PARTITION']}" in line and " -t " in line and " --mem " in line, line
            assert "--gpus" not in line, line  # device cpu: no job asks for a GPU
    planned = planned_jobs(SimpleNamespace(stdout=output, stderr=""))
    assert len(calls["embed_shard"]) == planned["embed_shard"] > 0, calls.get("embed_shard")
    # every embedding is its own cached output, whatever the rule that writes it (the noise
    # floor's re-embeddings are in their own folders below)
    assert len(list((workdir / "results/embeddings/local").glob("*/batch*.zarr"))) == 3
    (workdir / "sbatch-lines.txt").write_text("".join(lines[0] + "\n" for lines in calls.values()))


def test_a_failing_job_is_reported_as_failed_after_a_retry_with_more_resources(slurm_run, cluster):
    workdir, config, _ = slurm_run
    (workdir / "few.jsonl").write_text("".join(f'{{"text": "a {w}"}}\n' for w in "bcdef"))
    broken = {**config, "datasets": {**config["datasets"], "bad": {"source": "files", "files": ["few.jsonl"]}}}
    code, output, seconds = run_on_slurm(workdir, broken, cluster, "results/batches/bad/tokens.zarr")
    assert code not in (0, 124, 137), output[-5000:]  # failed, and not by our timeout
    failures = re.findall(
        r"Error in rule (\w+):\n\s+message: SLURM-job '\d+' failed, SLURM status is: 'FAILED'", output
    )
    retries = yaml.safe_load(USER_PROFILE.read_text())["retries"]
    assert failures == ["prepare_dataset"] * (1 + retries), output[-5000:]
    assert (
        "has 5 non-empty documents but 3 batches x 4 documents need 12"
        in (workdir / "logs/prepare_dataset/bad.log").read_text()
    )
    # the retry asked for twice the memory and time
    first, *others = sbatch_calls(output)["prepare_dataset"]
    limits = [tuple(int(v) for v in re.search(r" -t (\d+) --mem (\d+) ", line).groups()) for line in (first, *others)]
    assert limits[1:] == [(limits[0][0] * 2, limits[0][1] * 2)] * retries, limits
    assert (workdir / "results/report/diversity.csv").exists()
    print(f"failing job reported after {seconds:.0f} s")


def test_hub_ids_run_with_the_compute_jobs_offline(cluster, tmp_path_factory):
    """A probe and datasets given as hub ids (replicas of gpt2, the uncopyrighted Pile and
    WikiText), served by the loopback stand-in of the hub: the fetch stage runs on the
    submitting node, every SLURM job offline, and the run completes."""
    root = hub_repositories(tmp_path_factory.mktemp("hub"))
    workdir = tmp_path_factory.mktemp("slurm_hub")
    with served(root) as server:
        config = hub_config(workdir)
        config["task2vec"]["device"] = "cpu"  # the cluster's GPUs are fake (device files, no CUDA)
        code, output, seconds = run_on_slurm(workdir, config, cluster)
    assert code == 0, output[-5000:]
    calls = sbatch_calls(output)
    assert {"prepare_dataset", "sample_batches", "embed_shard"} <= set(calls), calls.keys()
    assert not {"fetch", "fetch_probe", "fetch_dataset"} & set(calls), "the fetch stage must not be submitted"
    check_offline(workdir, server)
    table = pd.read_csv(workdir / "results/report/diversity.csv")
    assert list(table.dataset) == ["nih", "wiki_whole", "local"] and table.diversity.between(0, 1).all()
    print(f"hub ids through SLURM in {seconds:.0f} s")


def test_an_embedding_asks_slurm_for_a_gpu_and_stops_when_it_sees_none(slurm_run, cluster):
    """device auto: the rule's gpu resource becomes sbatch --gpus=1; on this cluster's fake GPUs
    the job sees no CUDA device and stops with one line, after its retry; nothing is lost. With
    3 embeddings a job, the 3 more batches are a rule of their own (embed_shard_0003_0005) that
    takes the profile's settings for embed_shard (its mem_mb: 1000 MB, every other rule 500)."""
    workdir, config, _ = slurm_run
    before = sorted(p.name for p in (workdir / "results/embeddings/local").rglob("batch*.zarr"))
    auto = {**config, "task2vec": {**config["task2vec"], "device": "auto", "embeddings_per_job": 3}}
    auto["datasets"] = {**config["datasets"], "local": {**config["datasets"]["local"], "sampling": {"n_batches": 6}}}
    code, output, seconds = run_on_slurm(workdir, auto, cluster, "results/distances/local.zarr")
    assert code not in (0, 124, 137), output[-5000:]
    calls = sbatch_calls(output)
    assert {rule for rule in calls if rule.startswith("embed")} == {"embed_shard_0003_0005"}, calls.keys()
    lines = calls["embed_shard_0003_0005"]
    assert all(" --gpus=1" in line for line in lines) and " --mem 1000 " in lines[0], lines
    log = next((workdir / "logs/embed_shard/local").glob("*/batches0003-0005.log")).read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "embed_shard_0003_0005 asked for a GPU but sees none" in errors[0], log
    assert sorted(p.name for p in (workdir / "results/embeddings/local").rglob("batch*.zarr")) == before
    print(f"GPU-required failure reported after {seconds:.0f} s")
