"""``auscult doctor --budget NAME``: can this machine run that budget? Before a long run.

Prints the machine (CPU cores, memory, GPUs as torch sees them, free disk), the budget's
forecast (:mod:`auscult.forecast`: training and evaluation jobs, FLOPs, H100-hours, the
largest job's peak memory) and a verdict, and exits 0 when the budget fits here, 1 when it
does not (2: a usage error, as every ``auscult`` command).

Time here. With a GPU: the forecast's one-GPU wall time (H100 at the forecast's assumed
utilisation; another GPU scales with its throughput). Without one: the forecast's FLOPs at
:data:`CPU_TRAIN_EFFICIENCY` x this machine's fp32 matmul rate, measured when the doctor
runs (:func:`auscult.forecast.cpu_matmul_tflops`, all cores): the cpu budget's 24 training
jobs reached 0.167 of the matmul rate on the 2-core development machine (README, "Forecast
of the paper budget"). The printed ratio is what one H100 at the forecast's utilisation does
per hour of this machine: forecast GPU-hours x ratio = CPU hours. Feature extraction,
the reference floor and the cross-dataset scoring are not in the forecast, so this is a
lower bound for the whole workflow.

Memory: the largest job's estimated peak (:func:`auscult.forecast.job_peak_bytes`) against
the smallest GPU's memory, or (no GPU, without the CUDA overhead) against the memory
available now. Disk: the feature caches the budget builds (records x the recipe's values per
record x its store dtype), every run's model files and one resumable checkpoint per job
slot, and the PhysioNet 2016 recordings' pinned sizes; the other datasets' archives are not
pinned by size, so they are not counted: keep some margin.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from auscult import registry

# The share of this CPU's fp32 matmul rate that training jobs reach: README "Forecast of the
# paper budget", the cpu budget's measured check (24 training jobs, 2026-12-01: 0.167). The
# rate itself is measured on this machine when the doctor runs (forecast.cpu_matmul_tflops).
CPU_TRAIN_EFFICIENCY = 0.167
MEASURED_ON = ("training jobs reach 0.167 of the CPU's fp32 matmul rate: the cpu budget's 24 training jobs, "
               "README 'Forecast of the paper budget'")
DEFAULT_MAX_HOURS = 24.0
DTYPE_BYTES = {"float32": 4, "float16": 2}


class DoctorError(ValueError):
    """A budget that cannot be read (no such overlay, invalid parameters): one line, exit 2."""


@dataclass
class Machine:
    cores: int
    ram_total: float  # bytes
    ram_available: float
    gpus: list[tuple[str, float]] = field(default_factory=list)  # (name, memory bytes)
    disk_free: float = 0.0
    root: str = "."


def _meminfo() -> tuple[float, float]:
    """(total, available) bytes from /proc/meminfo, else from sysconf (available = total)."""
    try:
        info = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = float(rest.split()[0]) * 1024
        return info["MemTotal"], info.get("MemAvailable", info["MemTotal"])
    except (OSError, KeyError, ValueError, IndexError):
        total = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        return total, total


def gpus() -> list[tuple[str, float]]:
    """(name, memory bytes) of each CUDA device torch can use; [] without one."""
    import torch

    if not torch.cuda.is_available():
        return []
    return [(torch.cuda.get_device_name(i), float(torch.cuda.get_device_properties(i).total_memory))
            for i in range(torch.cuda.device_count())]


def machine(root: str | Path = ".") -> Machine:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    total, available = _meminfo()
    return Machine(cores=cores, ram_total=total, ram_available=available, gpus=gpus(),
                   disk_free=float(shutil.disk_usage(root).free), root=str(root))


def budget_config(budget: str, root: str | Path = ".") -> tuple[dict, str]:
    """(validated config, what was read) of ``budget``: params.yaml, plus config/<budget>.yaml
    unless ``budget`` is paper."""
    from auscult.params import ParamsError, load_params

    root = Path(root)
    params = root / "params.yaml"
    if not params.is_file():
        raise DoctorError(f"{params}: no params.yaml here (run in the repository, or pass --root)")
    overlays = [] if budget == "paper" else [root / "config" / f"{budget}.yaml"]
    if overlays and not overlays[0].is_file():
        known = sorted(["paper", *(p.stem for p in (root / "config").glob("*.yaml"))])
        raise DoctorError(f"no budget {budget!r}: {overlays[0]} does not exist (budgets here: {', '.join(known)})")
    try:
        config = load_params(params, overlays)
    except ParamsError as e:
        raise DoctorError(str(e)) from None
    return config, " + ".join(str(p.relative_to(root)) for p in [params, *overlays])


# --------------------------------------------------------------------------- disk
def recipe_record_values(config: Mapping, recipe: str) -> int | None:
    """Values one record of a feature recipe stores (None: a recipe this estimate does not know)."""
    f = config["features"].get(recipe)
    if f is None:
        return None
    for paper in registry.REGISTRY.values():  # a paper's recipe: its forecast module's count
        if recipe in {**(getattr(paper, "FEATURE_RECIPES", {}) or {}), **(getattr(paper, "SEGMENT_RECIPES", {}) or {})}:
            spec = getattr(paper, "FORECAST", None)
            if not spec:
                return None
            import importlib

            return int(importlib.import_module(spec).record_values(f))
    if recipe == "floor_stats":
        per_frame = int(f["n_mfcc"]) * (2 if f["deltas"] else 1) + int(f["n_mels"])
        return per_frame * len(f["stats"])
    return None


def _pinned_audio_bytes(dataset: str) -> float:
    """Sum of the pinned original file sizes of ``dataset`` (PhysioNet 2016's .wav files), else 0."""
    import csv
    import gzip

    from auscult.datasets.pinned import pin_path

    path = pin_path(dataset)
    if not path.is_file():
        return 0.0
    with gzip.open(path, "rt") as fh:
        return float(sum(int(r["label"]) for r in csv.DictReader(fh) if r["kind"] == "wav"))


def disk_estimate(config: Mapping, job_list, root: str | Path = ".") -> dict[str, float]:
    """Bytes the budget writes: feature caches, model files (+ one checkpoint per job at a
    time) and the raw PhysioNet recordings (the only archive pinned by size)."""
    from auscult import forecast, layout

    features = 0.0
    raw = 0.0
    for ds in config["datasets"]:
        recipes = layout.dataset_recipes(config, ds)
        if not recipes:
            continue
        try:
            n = forecast.dataset_size(config, ds, root)["records"]
        except KeyError:  # a folder dataset: its size is not known before it is read
            continue
        for r in recipes:
            values = recipe_record_values(config, r)
            if values is not None:
                features += n * values * DTYPE_BYTES.get(config["features"][r].get("store_dtype"), 4)
        if config["datasets"][ds]["source"] != "synthetic":
            raw += _pinned_audio_bytes(ds)
    distinct = {(j.paper, j.variant): j for j in job_list}.values()
    models = sum(4.0 * j.n_params * j.seeds * getattr(registry.get(j.paper), "MODEL_FILES", 1) for j in distinct)
    # last.pt while a run trains: weights, Adam's two moments and the best epoch's weights
    checkpoint = max((4.0 * j.n_params * 4 for j in distinct), default=0.0)
    return {"features": features, "models": models + checkpoint, "raw": raw,
            "total": features + models + checkpoint + raw}


# --------------------------------------------------------------------------- report
@dataclass
class Report:
    lines: list[str]
    ok: bool
    hours_here: float


def _gb(x: float) -> str:
    return f"{x / 1e9:.1f} GB"


def _duration(hours: float) -> str:
    if hours < 1 / 60:
        return f"{hours * 3600:.0f} s"
    if hours < 1:
        return f"{hours * 60:.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.0f} days"


def diagnose(budget: str, root: str | Path = ".", *, max_hours: float = DEFAULT_MAX_HOURS,
             here: Machine | None = None) -> Report:
    """The doctor's lines and verdict for ``budget`` on ``here`` (default: this machine)."""
    from auscult import forecast

    config, source = budget_config(budget, root)
    here = here or machine(root)
    jobs = forecast.jobs(config, root)
    if not jobs:
        raise DoctorError(f"budget {budget!r} enables no table: nothing to forecast")
    frame = forecast.forecast_frame(jobs).set_index("table")
    total = frame.loc["all tables (each job once)"]
    distinct = list({(j.paper, j.variant): j for j in jobs}.values())
    largest = max(distinct, key=lambda j: j.peak_bytes)
    lines = [f"auscult doctor: budget {budget} ({source})"]

    gpu_text = ", ".join(f"{n} ({_gb(m)})" for n, m in here.gpus) if here.gpus else \
        "no GPU (torch.cuda.is_available() is False)"
    lines.append(f"machine: {here.cores} CPU cores; memory {_gb(here.ram_total)} ({_gb(here.ram_available)} "
                 f"available); {gpu_text}; disk {_gb(here.disk_free)} free at {here.root}")
    lines.append(f"forecast (auscult.forecast, training and evaluation jobs): {int(total['jobs'])} jobs, "
                 f"{total['pflop_expected']:.3g} PFLOP at the expected stop ({total['pflop_max']:.3g} at max "
                 f"epochs), {total['gpu_h_expected']:.3g} H100-hours ({total['gpu_h_max']:.3g} at max epochs); "
                 f"largest job {largest.paper}/{largest.variant} at batch {largest.batch_size}: peak ~"
                 f"{_gb(largest.peak_bytes)} ({forecast.jobs_per_gpu(largest.peak_bytes)} per 80 GB GPU)")

    flops_expected = total["pflop_expected"] * 1e15
    flops_max = total["pflop_max"] * 1e15
    if here.gpus:
        hours, hours_max = float(total["wall_1gpu_h_expected"]), float(total["wall_1gpu_h_max"])
        lines.append(f"time here: {_duration(hours)} on one GPU at the expected stop ({_duration(hours_max)} at max "
                     f"epochs), as an H100 at the forecast's assumed utilisation; scale by your GPU's throughput")
    else:
        matmul = forecast.cpu_matmul_tflops(here.cores) * 1e12  # measured here, now
        rate = CPU_TRAIN_EFFICIENCY * matmul
        hours, hours_max = flops_expected / rate / 3600, flops_max / rate / 3600
        ratio = hours / total["gpu_h_expected"] if total["gpu_h_expected"] else float("nan")
        lines.append(f"time here: no GPU: {CPU_TRAIN_EFFICIENCY} x this CPU's measured fp32 matmul rate "
                     f"{matmul / 1e9:.0f} GFLOP/s ({here.cores} threads) = {rate / 1e9:.1f} GFLOP/s ({MEASURED_ON}); "
                     f"one H100-hour at the forecast's utilisation = "
                     f"{ratio:,.0f} hours here for this budget: {total['gpu_h_expected']:.3g} H100-hours x "
                     f"{ratio:,.0f} = {_duration(hours)} ({_duration(hours_max)} at max epochs)")

    problems = []
    if hours > max_hours:
        what = f"the {budget} budget would take about {_duration(hours)} here"
        problems.append(what + (f" (more than --max-hours {max_hours:g})" if hours < 48 else ""))
    if here.gpus:
        limit, where = min(m for _, m in here.gpus), "the smallest GPU's memory"
        need = largest.peak_bytes
    else:
        limit, where = here.ram_available, "the memory available"
        need = largest.peak_bytes - forecast.CUDA_OVERHEAD_BYTES
    fits = need <= limit
    lines.append(f"memory: largest job ~{_gb(need)} vs {where} {_gb(limit)}: "
                 + (f"OK (at most {int(limit // need) if need > 0 else 0} such jobs at once)" if fits else "does NOT fit"))
    if not fits:
        problems.append(f"the largest job ({largest.paper}/{largest.variant}, ~{_gb(need)}) does not fit in {where}")
    disk = disk_estimate(config, jobs, root)
    disk_ok = disk["total"] <= here.disk_free
    lines.append(f"disk: ~{_gb(disk['total'])} (feature caches {_gb(disk['features'])}, models and a checkpoint "
                 f"{_gb(disk['models'])}, PhysioNet recordings {_gb(disk['raw'])}; other archives not counted) vs "
                 f"{_gb(here.disk_free)} free: " + ("OK" if disk_ok else "NOT enough"))
    if not disk_ok:
        problems.append(f"about {_gb(disk['total'])} of disk needed, {_gb(here.disk_free)} free")
    if problems:
        advice = "" if here.gpus else "; run it on a GPU machine, or a smaller budget (demo, quick, cpu, rehearsal)"
        lines.append("verdict: NOT FEASIBLE HERE: " + "; ".join(problems) + advice)
    else:
        lines.append(f"verdict: OK: about {_duration(hours)} of training and evaluation arithmetic here "
                     "(plus start-up, features and tables)")
    return Report(lines=lines, ok=not problems, hours_here=hours)


def run(budget: str, root: str | Path = ".", *, max_hours: float = DEFAULT_MAX_HOURS) -> int:
    """Print the report; 0 when the budget fits here, 1 when it does not."""
    if not (max_hours > 0 and math.isfinite(max_hours)):
        raise DoctorError(f"--max-hours must be a positive number, got {max_hours}")
    report = diagnose(budget, root, max_hours=max_hours)
    print("\n".join(report.lines))
    return 0 if report.ok else 1
