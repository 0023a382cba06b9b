"""Logging for workflow jobs: everything goes to the job's log file and to stderr."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup(log_file: str | Path | None, name: str = "auscult") -> logging.Logger:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log = logging.getLogger(name)

    def log_uncaught(exc_type, exc, tb):
        # Tracebacks land in the job's log file too, not only on the terminal.
        log.critical("job failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught
    return log


def job_log(smk) -> str | None:
    """The first log file of a Snakemake job object, if any."""
    return str(smk.log[0]) if len(smk.log) else None
