"""What every workflow script shares: logging to the rule's log file, a bad-input error
reported as one line (no traceback) with a non-zero exit, and the job's timing: each job
logs ``compute <what> <seconds> s`` for each block of its own computation and, at the end,
``job seconds <total> start-up <seconds>`` (from the process start; start-up ends when
``main`` is called), which benchmarks/pipeline.py reads back to split the pipeline's wall
time into computation and overhead."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from contextlib import contextmanager

from .errors import UserError


def process_seconds() -> float | None:
    """Seconds since this process started (Linux: /proc/self/stat, 10 ms ticks); None elsewhere."""
    try:
        with open("/proc/self/stat") as stat:
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):
        return None


@contextmanager
def compute(log_line, what: str, needs=()):
    """Time a block of the job's own computation (not its start-up, imports, model loads,
    reads or writes) and log ``compute <what> <seconds> s``. ``needs``: modules the block
    would import lazily, imported before the clock starts so that their import is not
    counted as computation."""
    for module in needs:
        importlib.import_module(module)
    start = time.perf_counter()
    yield
    log_line(f"compute {what} {time.perf_counter() - start:.3f} s")


def run(snakemake, main) -> None:
    """Call ``main(snakemake, log)`` with ``log`` writing to ``snakemake.log[0]`` and stderr,
    then end the job's process. Its outputs are written and closed by then, so it exits at
    once (``os._exit``) after flushing the log and stdio: the interpreter's own teardown of
    the thousands of modules torch and transformers load takes a second or two per job."""
    logger = logging.getLogger("task2vec_diversity")
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    startup = process_seconds()
    no_stdin()
    offline = all(os.environ.get(k) == "1" for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    logger.info("hub: %s", "offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1)" if offline else "online")
    try:
        check_checkout(snakemake)
        main(snakemake, logger)
    except UserError as error:
        logger.error("%s", error)
        sys.exit(1)
    except OSError as error:
        if not (offline and "offline" in str(error).lower()):
            raise
        first = str(error).strip().splitlines()[0]
        logger.error(
            "this job runs offline and tried to reach the hub (%s): only the fetch stage (rules fetch_probe, "
            "fetch_dataset) may; report this, it is a bug of the workflow",
            first,
        )
        sys.exit(1)
    if startup is not None:
        logger.info("job seconds %.3f start-up %.3f", process_seconds(), startup)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def no_stdin() -> None:
    """A job reads nothing from the terminal: its stdin is /dev/null, so that no prompt (such as
    transformers' "run the custom code? [y/N]") can be answered by what is piped into snakemake."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until it ends


def check_checkout(snakemake) -> None:
    """Refuse to run a job with another copy of the library than the workflow's own (the one
    its scripts' folder links to, which the Snakefile validated the config with)."""
    own = os.path.join(getattr(snakemake, "scriptdir", None) or "", "task2vec_diversity")
    here = os.path.dirname(os.path.realpath(__file__))
    if os.path.isdir(own) and os.path.realpath(own) != here:
        raise UserError(
            f"this job imported task2vec_diversity from {here}, not the workflow's own {os.path.realpath(own)}: "
            "another copy is installed or on PYTHONPATH; uninstall it (pip uninstall task2vec-diversity) or remove it"
        )


def library_versions() -> dict:
    """Versions of what an embedding's numbers depend on."""
    import platform
    from importlib.metadata import version

    from . import __version__
    from .inputs import library_version

    versions = {"python": platform.python_version(), "task2vec_diversity": __version__, "library": library_version()}
    for package in ("torch", "transformers", "numpy", "datasets", "tokenizers", "zarr"):
        versions[package] = version(package)
    return versions
