"""Logging for workflow jobs: everything goes to the job's log file, the essentials to stderr.

A data or parameter error (an ``auscult`` ValueError/OSError: a bad recording, a checksum
mismatch, a malformed label file, an invalid setting) shows on the console as one line per
problem, ``<file>: <problem>``; its full traceback goes to the job's log file only. Any
other exception is a bug and shows its traceback in both places.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path

_FILE_HANDLER: logging.FileHandler | None = None
_IMPORTED_AT = time.time()


def is_data_error(exc: BaseException) -> bool:
    """A problem of the input or the parameters (message names the file), not a bug."""
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)):
        return True  # their message names the path
    return isinstance(exc, (ValueError, OSError)) and type(exc).__module__.startswith("auscult")


def problem_lines(exc: BaseException) -> list[str]:
    """One console line per problem of a data/parameter error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):  # "invalid parameters:\n  key: problem ..."
        head = lines[0].rstrip(":")
        return [f"{head}: {ln}" for ln in lines[1:]]
    return [" ".join(lines)] if lines else [type(exc).__name__]


def report(exc: BaseException, log: logging.Logger | None = None) -> None:
    """Print ``exc`` the way the excepthook does (one line per problem, traceback to the log)."""
    log = log or logging.getLogger("auscult")
    if is_data_error(exc):
        if _FILE_HANDLER is not None:
            _FILE_HANDLER.handle(log.makeRecord(log.name, logging.CRITICAL, __file__, 0, "job failed",
                                                (), (type(exc), exc, exc.__traceback__)))
            _FILE_HANDLER.flush()
        for line in problem_lines(exc):
            sys.stderr.write(f"ERROR {line}\n")
        if _FILE_HANDLER is not None:
            sys.stderr.write(f"(full traceback in {_FILE_HANDLER.baseFilename})\n")
        sys.stderr.flush()
    else:
        log.critical("job failed", exc_info=(type(exc), exc, exc.__traceback__))


def setup(log_file: str | Path | None, name: str = "auscult") -> logging.Logger:
    global _FILE_HANDLER
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    _FILE_HANDLER = None
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        _FILE_HANDLER = logging.FileHandler(log_file, mode="w")
        handlers.append(_FILE_HANDLER)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    log = logging.getLogger(name)

    def log_uncaught(exc_type, exc, tb):
        if exc is None:
            exc = exc_type()
        if exc.__traceback__ is None:
            exc = exc.with_traceback(tb)
        try:
            report(exc, log)
        except Exception:  # never lose the original error
            traceback.print_exception(exc_type, exc, tb)

    sys.excepthook = log_uncaught
    return log


def job_log(smk) -> str | None:
    """The first log file of a Snakemake job object, if any."""
    return str(smk.log[0]) if len(smk.log) else None


def job_benchmark(smk) -> str | None:
    """The job's cost record, its rule's named log ``benchmark`` (see :func:`write_benchmark`), if any."""
    path = smk.log.get("benchmark")
    return str(path) if path else None


BENCHMARK_COLUMNS = ("s", "h:m:s", "max_rss", "mean_load", "cpu_time")
# what a training job adds (note_training): its optimizer steps, seconds per step (training
# passes only) and, on CUDA, torch's peak allocated GPU memory (MB); empty for other jobs
TRAINING_COLUMNS = ("steps", "s_per_step", "gpu_max_mem_mb")
_TRAINING: dict = {"steps": 0, "step_s": 0.0, "gpu_mb": None}


def note_training(summary: dict) -> None:
    """Add one finished run's steps, step time and GPU memory (its training summary's
    ``steps_run``, ``s_per_step``, ``gpu_max_memory_mb``) to this job's benchmark record; a job
    that trains several runs (one model on each input) sums their steps and step time."""
    steps, per = summary.get("steps_run"), summary.get("s_per_step")
    if steps and per is not None:
        _TRAINING["steps"] += int(steps)
        _TRAINING["step_s"] += float(per) * int(steps)
    gpu = summary.get("gpu_max_memory_mb")
    if gpu is not None:
        _TRAINING["gpu_mb"] = max(float(gpu), _TRAINING["gpu_mb"] or 0.0)


def write_benchmark(path: str | os.PathLike) -> dict:
    """Write this process's cost so far to ``path``, a TSV with the columns of a Snakemake
    ``benchmark:`` file that :mod:`auscult.reporting.compute_cost` reads: ``s`` (wall seconds
    since the process started), ``cpu_time`` (user + system seconds of the process and its
    finished children, e.g. feature workers), ``max_rss`` (MB, the peak of the largest of
    those processes) and ``mean_load`` (100 x cpu_time / s).

    Why not Snakemake's ``benchmark:``: its sampler runs in the Snakemake process, every 0.5 s
    for a job's first 15 s, reading each job process's smaps (10-13 s of system time per demo
    run on 2 cores, taken from the jobs), and after 15 s it samples every 30 s and keeps the
    last sample, so a 26 s job was recorded with 15 s of CPU. ``getrusage`` is exact and free."""
    import resource

    from auscult.atomic import atomic_path

    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime
    wall = _seconds_since_start()
    peak_mb = max(self_.ru_maxrss, children.ru_maxrss) / (1024 * 1024 if sys.platform == "darwin" else 1024)
    hms = time.strftime("%H:%M:%S", time.gmtime(wall))
    # cpu_time as precise as s: at 2 decimals a 0.4 s job's load could not be rebuilt from them
    rec = {"s": round(wall, 4), "h:m:s": hms, "max_rss": round(peak_mb, 2),
           "mean_load": round(100 * cpu / wall, 2) if wall > 0 else 0.0, "cpu_time": round(cpu, 4)}
    columns = BENCHMARK_COLUMNS
    if _TRAINING["steps"]:
        columns += TRAINING_COLUMNS
        gpu = _TRAINING["gpu_mb"]
        rec.update(steps=_TRAINING["steps"], s_per_step=round(_TRAINING["step_s"] / _TRAINING["steps"], 5),
                   gpu_max_mem_mb="" if gpu is None else round(gpu, 1))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".tsv") as tmp:
        Path(tmp).write_text("\t".join(columns) + "\n" + "\t".join(str(rec[c]) for c in columns) + "\n")
    return rec


def _seconds_since_start() -> float:
    """Wall seconds since this process started: its start time in /proc/self/stat against
    CLOCK_BOOTTIME, both counted from boot (psutil's ``create_time`` adds /proc/stat's boot
    time, whole seconds, and was 0.4 s off here); elsewhere, since this module's import."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, IndexError, ValueError):  # not Linux
        return time.time() - _IMPORTED_AT


def end_job(smk=None) -> None:
    """End a job's process that has finished: write its cost record (:func:`job_benchmark`
    of ``smk``, when its rule names one), flush the logs and the standard streams, then
    exit with status 0 without the interpreter's teardown.

    A job's outputs are written atomically and closed before this, so skipping the teardown
    loses nothing; it saves 0.7 s per job with torch imported, 1.1 s with ``torch._dynamo``
    (which every ``optimizer.step`` imports), about a fifth of a small job. Call it as the
    last line of a workflow script only: a job that fails never gets here and exits the usual
    way, with its traceback and status 1.
    """
    bench = job_benchmark(smk) if smk is not None else None
    if bench:
        write_benchmark(bench)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing left to flush
            pass
    os._exit(0)


@contextlib.contextmanager
def job(smk, *, reap: bool = False):
    """The one wrapper of every workflow script::

        with runlog.job(snakemake) as log:
            ...  # the job's work

    Sets up the job's log (with ``reap``: also removes what killed earlier runs left beside
    its outputs, :func:`start_job`), and when the body has finished writes the job's cost
    record and ends the process (:func:`end_job`), so no script can forget its end. A body
    that raises leaves no record; its error reaches the log as one line (:func:`setup`)."""
    log = start_job(smk) if reap else setup(job_log(smk))
    yield log
    end_job(smk)


def start_job(smk) -> logging.Logger:
    """Set up logging for a Snakemake job and remove what killed earlier runs left behind
    (``.tmp-*`` siblings of its outputs whose writer is gone)."""
    from auscult.atomic import remove_stale_tmp

    log = setup(job_log(smk))
    for out in smk.output:
        for gone in remove_stale_tmp(out):
            log.info("removed %s (left by an interrupted run)", gone)
    return log
