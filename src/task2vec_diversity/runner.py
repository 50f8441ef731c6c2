"""What every workflow script shares: logging to the rule's log file, and a bad-input
error reported as one line (no traceback) with a non-zero exit."""

from __future__ import annotations

import logging
import sys

from .errors import UserError


def run(snakemake, main) -> None:
    """Call ``main(snakemake, log)`` with ``log`` writing to ``snakemake.log[0]`` and stderr."""
    logger = logging.getLogger("task2vec_diversity")
    logger.setLevel(logging.INFO)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers = [logging.StreamHandler(sys.stderr)]
    if len(snakemake.log):
        handlers.append(logging.FileHandler(snakemake.log[0], mode="w"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    try:
        main(snakemake, logger)
    except UserError as error:
        logger.error("%s", error)
        sys.exit(1)


def library_versions() -> dict:
    """Versions of what an embedding's numbers depend on."""
    import platform
    from importlib.metadata import version

    from . import __version__

    versions = {"python": platform.python_version(), "task2vec_diversity": __version__}
    for package in ("torch", "transformers", "numpy", "datasets", "tokenizers", "zarr"):
        versions[package] = version(package)
    return versions
