"""Which embedding jobs ask for a GPU, and which GPU a job that asked for one uses.

``task2vec.device`` (auto | cpu | cuda) decides what rule ``embed_shard`` *asks for*: its
``gpu`` resource, which a local run counts against ``--resources gpu=N`` and the SLURM plugin
turns into ``sbatch --gpus=N``. A job that asked for a GPU must get one: it stops with one
line when it sees none, instead of embedding on the CPU for hours. ``auto`` asks for a GPU
where there are GPUs to be had: a cluster executor (SLURM), a job inside a SLURM allocation,
or a machine that shows one; otherwise it embeds on the CPU.

The device is not part of any result's identity and not a rule param: changing it reruns
nothing (docs/slurm.md, "The cache").

Imported by the Snakefile at parse time: no torch at import.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from functools import lru_cache
from pathlib import Path

from .errors import UserError

# the slot locks of a local run's GPUs, one file per GPU index, under the working directory
SLOT_DIR = ".snakemake/gpu-slots"
_held = []  # the lock of this process's GPU, held (open) until the process ends


class GPUError(UserError):
    """A job asked for a GPU and sees none."""


def visible_gpus(environ=os.environ) -> int:
    """How many GPUs this machine shows a new process, without importing torch:
    ``CUDA_VISIBLE_DEVICES`` when set (empty: none), else the NVIDIA driver's list."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [e for e in visible.split(",") if e.strip()]
        return 0 if not entries or entries[0].strip() in ("-1", "NoDevFiles") else len(entries)
    return _driver_gpus()


@lru_cache(maxsize=1)
def _driver_gpus() -> int:
    gpus = Path("/proc/driver/nvidia/gpus")
    if gpus.is_dir():
        return len(list(gpus.iterdir()))
    if shutil.which("nvidia-smi"):
        try:
            listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.SubprocessError):
            return 0
        return sum(line.startswith("GPU ") for line in listed.stdout.splitlines()) if listed.returncode == 0 else 0
    return 0


def requested(device: str, cluster: bool, environ=os.environ) -> int:
    """The GPUs one embedding job asks for: 0 or 1. ``cluster``: the run submits its jobs to
    a cluster executor (``workflow.non_local_exec``)."""
    if device == "cpu":
        return 0
    if device == "cuda":
        return 1
    return int(cluster or "SLURM_JOB_ID" in environ or visible_gpus(environ) > 0)


def asked(resources) -> bool:
    """Whether a job's resources ask for a GPU (``gpu: N``, or ``gres: gpu:...`` on SLURM)."""
    gpu = getattr(resources, "gpu", 0) or 0
    gres = str(getattr(resources, "gres", "") or "")
    return int(gpu) > 0 or gres.startswith("gpu") or ",gpu" in gres


def job_device(resources, log=None, slot_dir: str = SLOT_DIR, environ=os.environ, rule: str = "embed_shard") -> str:
    """The torch device of an embedding job: ``cpu`` when it did not ask for a GPU; else its
    own GPU, or GPUError (one line) when it sees none. Under SLURM the job's GPU is the first
    it sees (SLURM shows a job only what it allocated); in a local run several jobs share the
    machine's GPUs, and each takes the first free one, holding a lock under ``slot_dir`` for
    as long as the process lives (a job waits when every GPU is taken)."""
    if not asked(resources):
        return "cpu"
    import torch

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        raise GPUError(
            f"{rule} asked for a GPU but sees none ({_why_none(torch, environ)}); nothing was "
            "computed: run it where a GPU is, or set task2vec.device: cpu to embed on CPUs"
        )
    if "SLURM_JOB_ID" in environ:
        return "cuda:0"
    return f"cuda:{take_slot(torch.cuda.device_count(), slot_dir, log)}"


def _why_none(torch, environ) -> str:
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible_gpus(environ) == 0:
        return f"CUDA_VISIBLE_DEVICES is {visible!r}"
    if torch.version.cuda is None:
        return f"this torch {torch.__version__} is a CPU build"
    return "no CUDA driver or device"


def take_slot(count: int, slot_dir: str = SLOT_DIR, log=None, poll: float = 1.0) -> int:
    """Index of the first of ``count`` GPUs no other process of this working directory
    holds; held until this process ends (its lock is released by the kernel, even on a kill)."""
    Path(slot_dir).mkdir(parents=True, exist_ok=True)
    waited = False
    while True:
        for index in range(count):
            lock = open(Path(slot_dir) / f"gpu{index}.lock", "a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                lock.close()
                continue
            _held.append(lock)
            return index
        if not waited and log is not None:
            log(f"all {count} GPUs are taken by other jobs of this run: waiting (give --resources gpu={count})")
        waited = True
        time.sleep(poll)
