"""What every workflow script shares: logging to the rule's log file, a bad-input error
reported as one line (no traceback) with a non-zero exit, and the job's timing: each job
logs ``compute <what> <seconds> s`` for each block of its own computation and, at the end,
``job seconds <total> start-up <seconds>`` (from the process start; start-up ends when
``main`` is called), which benchmarks/pipeline.py reads back to split the pipeline's wall
time into computation and overhead."""

from __future__ import annotations

import errno
import importlib
import logging
import os
import shutil
import sys
import time
import traceback
from contextlib import contextmanager

from .errors import UserError
from .hub import is_offline


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
    offline = is_offline()
    if offline and fetching(snakemake):  # the user's own setting, kept for the fetch stage
        logger.info("hub: offline (HF_HUB_OFFLINE=1 where snakemake runs): this fetch reads the Hugging Face cache")
    else:
        logger.info("hub: %s", "offline (HF_HUB_OFFLINE=1, HF_DATASETS_OFFLINE=1)" if offline else "online")
    try:
        check_checkout(snakemake)
        main(snakemake, logger)
    except UserError as error:
        logger.error("%s", error)
        if error.__cause__ is not None:  # what it was found from (a loader's error): its traceback in the log
            traceback_to_log(snakemake)
        sys.exit(1)
    except Exception as error:  # noqa: BLE001 - an unexpected failure: its traceback into the rule's log too
        first = (str(error).strip().splitlines() or [""])[0]
        if offline and isinstance(error, OSError) and "offline" in first.lower() and not fetching(snakemake):
            logger.error(
                "this job runs offline and tried to reach the hub (%s): only the fetch stage (rules fetch_probe, "
                "fetch_dataset) may; report this, it is a bug of the workflow",
                first,
            )
        elif isinstance(error, OSError) and error.errno == errno.ENOSPC:
            logger.error("%s", disk_full(snakemake, error))
            traceback_to_log(snakemake)
        else:
            logger.exception("unexpected error: %s: %s", type(error).__name__, first)
            where = f" (the traceback is in {snakemake.log[0]})" if len(snakemake.log) else ""
            logger.error("this job failed unexpectedly%s; report it with that log unless the input is at fault", where)
        sys.exit(1)
    if startup is not None:
        logger.info("job seconds %.3f start-up %.3f", process_seconds(), startup)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def disk_full(snakemake, error: OSError) -> str:
    """One line for a full disk: where, how much is free, and that nothing computed is lost."""
    where = error.filename or (snakemake.output[0] if len(getattr(snakemake, "output", ())) else os.getcwd())
    folder = os.path.abspath(where)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        usage = shutil.disk_usage(folder)
        free = f" ({usage.free / 2**30:.1f} GiB free of {usage.total / 2**30:.1f} GiB)"
    except OSError:
        free = ""
    return (
        f"no space left on the device holding {where}{free}: free space there (or move results/ to a larger disk) "
        "and run the workflow again; nothing computed is lost: results are written whole or not at all, and this "
        "job's unfinished output was discarded"
    )


def traceback_to_log(snakemake) -> None:
    """The current exception's traceback, into the rule's log file only (stderr has its one line)."""
    if len(snakemake.log):
        with open(snakemake.log[0], "a") as log:
            traceback.print_exc(file=log)


def no_stdin() -> None:
    """A job reads nothing from the terminal: its stdin is /dev/null, so that no prompt (such as
    transformers' "run the custom code? [y/N]") can be answered by what is piped into snakemake."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until it ends


def fetching(snakemake) -> bool:
    """Whether this job is one of the fetch stage's, the only ones that may use the network."""
    return str(getattr(snakemake, "rule", "")).startswith("fetch")


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
