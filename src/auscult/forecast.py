"""Forecast of a budget's compute before running it: FLOPs, GPU-hours, jobs, wall time.

For every training job of every enabled table (one per variant and seed):

- FLOPs per sample are *counted* on the real model built from the budget's config, at the
  budget's input shapes, with ``torch.utils.flop_counter.FlopCounterMode`` (forward pass);
  a training sample costs 3 x forward (see :func:`count_flops`), an evaluated one 1 x;
- samples per epoch come from the dataset sizes (the manifest when it exists here, else
  the published counts) and the split parameters: training records (twice for SAM), the
  validation pass, BatchNorm recalibration batches and, for the AST paper protocol, the
  test pass after every epoch; the evaluation job adds its forward passes once;
- epochs: ``max_epochs`` and an *expected* early-stopping point, ``min(max_epochs,
  EXPECTED_STOP_PATIENCES x patience)`` (best epoch about two patiences in, then one
  patience to stop; AST trains a fixed number of epochs); a ``max_steps`` cap (the rehearsal
  budget) ends training after that many batches, the partial epoch still validated.

Peak memory per job (:func:`count_memory`, an analytic estimate, not a measurement): the
tensors autograd saves for the backward pass in one training forward pass at the budget's
input shapes, counted on fake tensors (``FakeTensorMode``: shapes only, no memory, no
arithmetic) in fp32 (mixed precision stores many of them at half the size, so this is an
upper bound for them), times the batch size, plus 16 bytes per trainable parameter (fp32
weight, gradient and Adam's two moments; 4 more under SAM, which keeps a copy of the
weights) and 4 per frozen one, plus :data:`CUDA_OVERHEAD_BYTES` for the CUDA context and
kernels' workspaces. Checked on the CPU against the resident-memory growth over one real
training-mode forward pass, per sample, at the paper budget's shapes (the 2-core machine,
batch 4-8): ViT-only 37 MB counted / 50 MB measured, VGG16 linear 87 / 96, ResNet-18
log-mel 8.6 / 11.4 (RSS also holds the pass's temporaries, and the allocator reuses freed
memory, so the two agree only to about a third). ``jobs per GPU`` = how many such jobs fit in
:data:`GPU_MEMORY_BYTES` (an 80 GB H100); a job's ``gpu_slots`` is the larger of its
parameter-count share (:data:`SLOTS`) and its memory share of the GPU.

GPU time = FLOPs / (peak x utilisation): :data:`H100_BF16_DENSE_TFLOPS` with the
utilisation assumed per model size in :data:`UTILISATION` (small models leave a GPU mostly
idle, which is why several of them share one: ``gpu_slots`` in the rules). The wall time
on one GPU with sharing assumes jobs that share a GPU do not slow each other down.

:func:`measured_vs_forecast` checks the method where it can run: the same count for a
budget already run on this machine, against the wall time of its training jobs'
benchmark files, at the epochs each job actually ran, and this CPU's measured matmul rate.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from auscult import layout, registry

H100_BF16_DENSE_TFLOPS = 989.4  # NVIDIA H100 SXM5, bf16 dense tensor-core peak (datasheet)
# assumed fraction of that peak a training job reaches, by trainable parameters
UTILISATION = ((10e6, 0.05), (50e6, 0.20), (math.inf, 0.35))
# gpu_slots out of GPU_SLOTS_PER_GPU a job takes, by trainable parameters (rules use the same)
GPU_SLOTS_PER_GPU = 4
SLOTS = ((10e6, 1), (50e6, 2), (math.inf, 4))
EXPECTED_STOP_PATIENCES = 3
# memory: an 80 GB H100 (what gpu_slots share), and what CUDA itself takes per process (the
# context, cuBLAS/cuDNN workspaces: an assumption of the usual order, not measured here)
GPU_MEMORY_BYTES = 80e9
CUDA_OVERHEAD_BYTES = 1.0e9
# measured GPU memory (torch.cuda.max_memory_allocated) x this = what the caching allocator
# holds (freed blocks it keeps, fragmentation): an allowance, not measured here
GPU_MEMORY_MARGIN = 1.10
# the budget whose runs measure GPU memory at the paper's shapes (gpu_slots, make forecast)
REHEARSAL_OVERLAY = "config/rehearsal.yaml"
BYTES_PER_TRAINABLE = 16  # fp32 weight + gradient + Adam/AdamW exp_avg and exp_avg_sq
BYTES_PER_FROZEN = 4
BYTES_SAM_COPY = 4  # SAM keeps each weight's value while it steps to w + e
# published sizes, used where no manifest of the dataset exists on this machine
CANONICAL = {"physionet2016": {"records": 3240, "test": 301}, "pascal": {"records": 585, "test": 0},
             "icbhi2017": {"records": 6898, "test": 2756}}


def _import_before_meta() -> None:
    """Import what building a model may import, before any ``torch.device("meta")`` block:
    a module imported inside one creates its module-level tensors on the meta device (e.g.
    torchaudio's kaldi ``EPSILON``, imported by transformers' AST), which breaks it for the
    rest of the process."""
    import importlib

    models = [f"auscult.{m.replace('/', '.')}" for m in registry.spec_modules("MODELS")]
    for name in ("torchaudio.compliance.kaldi", "transformers.models.audio_spectrogram_transformer",
                 "torchvision.models", "auscult.models.ast", "auscult.models.cnn14",
                 "auscult.models.imagenet", *models):
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _by_size(table, n_params: float):
    return next(v for limit, v in table if n_params < limit)


@functools.cache
def _model_params(config_json: str, paper: str, variant: str) -> int:
    import torch

    from auscult.models import build_model, count_trainable

    cfg = _shape_only(layout.variant_model_config(json.loads(config_json), paper, variant))
    _import_before_meta()
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised for real
        return int(count_trainable(build_model(cfg)))


def job_gpu_slots(config: Mapping, paper: str, variant: str, root: str | Path | None = None) -> int:
    """gpu_slots a training/evaluation job of ``variant`` asks for (rules, where a GPU is visible).

    Where a CUDA run of a job with the same shapes measured its GPU memory
    (:func:`measured_gpu_bytes`, looked up under ``root``): its share of
    :data:`GPU_MEMORY_BYTES` by that measurement (:func:`measured_slots`). Otherwise the larger
    of its share by parameters and its share by the *counted* peak memory
    (:func:`job_peak_bytes`; a paper this module cannot size: by parameters)."""
    if root is not None and _hooks(paper) is not None:
        measured = measured_gpu_bytes(config, paper, variant, root)
        if not math.isnan(measured):
            return measured_slots(measured)
    key = json.dumps(config, sort_keys=True, default=str)
    by_params = gpu_slots(_model_params(key, paper, variant))
    if _hooks(paper) is None:
        return by_params
    return max(by_params, memory_slots(_job_peak_bytes(key, paper, variant)))


def measured_slots(measured_bytes: float) -> int:
    """gpu_slots for a job whose CUDA run measured ``measured_bytes``
    (``torch.cuda.max_memory_allocated``): that x :data:`GPU_MEMORY_MARGIN` (what the caching
    allocator holds beyond it) + :data:`CUDA_OVERHEAD_BYTES` (the context, which the
    measurement leaves out)."""
    return memory_slots(measured_need(measured_bytes))


def measured_need(measured_bytes: float) -> float:
    """GPU memory a job needs, from its measured ``torch.cuda.max_memory_allocated``."""
    return measured_bytes * GPU_MEMORY_MARGIN + CUDA_OVERHEAD_BYTES


def _memory_shape(config: Mapping, paper: str, variant: str) -> str:
    """What a job's GPU memory depends on: its model, input shapes, batch size and SAM."""
    batch, sam = _train_settings(config, paper, variant)
    return json.dumps({"model": _shape_only(layout.variant_model_config(config, paper, variant)),
                       "inputs": input_shapes(config, paper), "batch": batch, "sam": sam},
                      sort_keys=True, default=str)


@functools.cache
def _rehearsal_config(root: str) -> dict | None:
    """The rehearsal budget under ``root`` (read once per process: the rules size every job
    with it), or None where it is absent or does not validate (the run reports params errors)."""
    from auscult.params import ParamsError, load_params

    base, overlay = Path(root) / "params.yaml", Path(root) / REHEARSAL_OVERLAY
    if not (base.is_file() and overlay.is_file()):
        return None
    try:
        return load_params(base, [overlay])
    except ParamsError:
        return None


def measured_gpu_bytes(config: Mapping, paper: str, variant: str, root: str | Path = ".") -> float:
    """Peak GPU memory (bytes) that a CUDA run measured for a job of ``variant`` with these
    shapes: the ``gpu_max_mem_mb`` of this budget's own benchmark record (its first seed, from an
    earlier run), else of the rehearsal's (``config/rehearsal.yaml`` over ``params.yaml`` under
    ``root``), which counts only where its model, input shapes, batch size and SAM setting
    equal this budget's. NaN where no CUDA run measured it (a CPU run records no GPU memory)."""
    from auscult.reporting.compute_cost import read_benchmark

    root = Path(root)
    rehearsal = _rehearsal_config(str(root.resolve()))
    candidates = [config] if rehearsal is None else [config, rehearsal]
    shape = None
    for c in candidates:
        try:
            if c is not config:
                shape = shape or _memory_shape(config, paper, variant)
                if _memory_shape(c, paper, variant) != shape:
                    continue
            seed = layout.seeds(c, paper, variant)[0]
            b = read_benchmark(root / layout.train_benchmark(c, paper, variant, seed))
        except (KeyError, ValueError):  # the variant is not part of that budget
            continue
        if b is not None and not math.isnan(b["gpu_max_mem_mb"]):
            return b["gpu_max_mem_mb"] * 2**20
    return float("nan")


def memory_slots(peak_bytes: float) -> int:
    """gpu_slots (of :data:`GPU_SLOTS_PER_GPU`) that ``peak_bytes`` take of one GPU, at most all."""
    return int(min(GPU_SLOTS_PER_GPU, max(1, math.ceil(GPU_SLOTS_PER_GPU * peak_bytes / GPU_MEMORY_BYTES))))


def jobs_per_gpu(peak_bytes: float) -> int:
    """How many jobs of ``peak_bytes`` fit in one GPU's memory (0: not even one)."""
    return int(GPU_MEMORY_BYTES // peak_bytes) if peak_bytes > 0 else 0


def utilisation(n_params: float) -> float:
    return _by_size(UTILISATION, n_params)


def gpu_slots(n_params: float) -> int:
    return _by_size(SLOTS, n_params)


# --------------------------------------------------------------------------- sizes
def dataset_size(config: Mapping, dataset: str, root: str | Path = ".") -> dict:
    """{records, test}: from the dataset's manifest here, else synthetic params, else published."""
    path = Path(root) / layout.manifest_path(config, dataset)
    if path.is_file():
        m = pd.read_csv(path, usecols=lambda c: c in ("official_split",))
        n_test = int((m["official_split"] == "test").sum()) if "official_split" in m else 0
        return {"records": len(m), "test": n_test, "from": "manifest"}
    params = config["datasets"][dataset]
    if params["source"] == "synthetic" and dataset != "icbhi2017":
        s = params["synthetic"]
        return {"records": int(s["n_records"]), "test": int(s.get("n_test", 0)), "from": "synthetic params"}
    if params["source"] == "synthetic":  # ICBHI: patients x recordings x cycles (inclusive ranges, their means)
        s = params["synthetic"]
        cycles = (int(s["n_patients"]) * sum(s["recordings_per_patient"]) / 2 * sum(s["cycles_per_recording"]) / 2)
        return {"records": round(cycles), "test": round(cycles * float(s["test_fraction"])),
                "from": "synthetic params (expected)"}
    return {**CANONICAL[dataset], "from": "published counts"}


# --------------------------------------------------------------------------- memory
def _hooks(paper: str):
    """The paper's forecast module (its ``FORECAST``: ``input_shapes(config)`` and
    ``workload(config, variant, root)``), or ``None`` where it has none (not forecast)."""
    spec = getattr(registry.get(paper), "FORECAST", None)
    if not spec:
        return None
    import importlib

    return importlib.import_module(spec)


def _shape_only(cfg: Mapping) -> dict:
    """A model config built for its shapes only: no pretrained checkpoint to look for."""
    return {**cfg, "pretrained": False} if "pretrained" in cfg else dict(cfg)


def count_memory(model, shapes: Mapping[str, tuple[int, ...]], batch: int = 2) -> dict:
    """Bytes of one training step of ``model`` (built under ``FakeTensorMode``, or real):
    ``activations_per_sample`` (tensors saved for backward by a training-mode forward pass,
    each counted once, parameters and their views left out, fp32 inputs), ``trainable`` and
    ``frozen`` parameter elements."""
    import torch

    x = {k: torch.randn(batch, *shapes[k]) for k in model.inputs}
    model.train()
    saved: dict[int, int] = {}
    params = {id(p) for p in model.parameters()}

    def pack(t):
        base = t if t._base is None else t._base
        if id(base) not in params:  # a weight (or its transpose) saved for backward is counted once, above
            saved[id(t)] = t.numel() * t.dtype.itemsize
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return {"activations_per_sample": sum(saved.values()) / batch, "trainable": int(trainable),
            "frozen": int(frozen)}


def peak_bytes(mem: Mapping, batch_size: int, *, sam: bool = False) -> float:
    """A training job's peak memory from :func:`count_memory`'s counts (module docstring)."""
    per_param = BYTES_PER_TRAINABLE + (BYTES_SAM_COPY if sam else 0)
    return (mem["activations_per_sample"] * int(batch_size) + per_param * mem["trainable"]
            + BYTES_PER_FROZEN * mem["frozen"] + CUDA_OVERHEAD_BYTES)


def _counted_model(config: Mapping, paper: str, variant: str) -> tuple[str, str]:
    """(model config, input shapes) of ``variant`` as JSON: the keys of the cached counts."""
    cfg = _shape_only(layout.variant_model_config(config, paper, variant))
    return json.dumps(cfg, sort_keys=True), json.dumps(input_shapes(config, paper), sort_keys=True)


def _shapes(shapes_json: str) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v) for k, v in json.loads(shapes_json).items()}


@functools.cache
def _memory(model_json: str, shapes_json: str) -> dict:
    """:func:`count_memory` of a model config at input shapes, on fake tensors."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    from auscult.models import build_model

    _import_before_meta()
    with FakeTensorMode(allow_non_fake_inputs=True):
        return count_memory(build_model(json.loads(model_json)), _shapes(shapes_json))


@functools.cache
def _flops(model_json: str, shapes_json: str) -> tuple[float, float, int]:
    """:func:`count_flops` of a model config at input shapes: on the meta device, or on fake
    CPU tensors where the model's autocast regions refuse "meta" (the same counts as a real
    pass, checked for CNN14, ResNet-18, MobileNetV2 and AudioFuse, in a fraction of its time)."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    from auscult.models import build_model
    from auscult.training.seeding import seed_everything

    cfg, shapes = json.loads(model_json), _shapes(shapes_json)
    _import_before_meta()
    seed_everything(0)
    try:
        with torch.device("meta"):  # counted on shapes: no memory, no arithmetic
            return count_flops(build_model(cfg), shapes)
    except (RuntimeError, NotImplementedError):  # autocast regions refuse "meta"
        with FakeTensorMode(allow_non_fake_inputs=True):
            return count_flops(build_model(cfg), shapes)


def _model_memory(config_json: str, paper: str, variant: str) -> dict:
    """:func:`count_memory` of ``variant`` at the budget's input shapes (cached by model and shapes)."""
    return _memory(*_counted_model(json.loads(config_json), paper, variant))


def _train_settings(config: Mapping, paper: str, variant: str) -> tuple[int, bool]:
    """(batch size, SAM on) of ``variant``'s training runs."""
    t = layout.train_slice(config, paper, variant)["training"]
    return int(t["batch_size"]), bool(t.get("sam", {}).get("enabled", False))


@functools.cache
def _job_peak_bytes(config_json: str, paper: str, variant: str) -> float:
    batch, sam = _train_settings(json.loads(config_json), paper, variant)
    return peak_bytes(_model_memory(config_json, paper, variant), batch, sam=sam)


def job_peak_bytes(config: Mapping, paper: str, variant: str) -> float:
    """Estimated peak memory (bytes) of one training job of ``variant`` (module docstring)."""
    return _job_peak_bytes(json.dumps(config, sort_keys=True, default=str), paper, variant)


def cap(n: int, limit) -> int:
    """``n``, at most ``limit`` (``None``: no cap)."""
    return n if limit is None else min(n, int(limit))


def input_shapes(config: Mapping, paper: str) -> dict[str, tuple[int, ...]]:
    """The model's input shapes per sample at this budget (the paper's ``FORECAST`` module)."""
    return _hooks(paper).input_shapes(config)


# --------------------------------------------------------------------------- FLOPs
BACKWARD_OVER_FORWARD = 2.0


def count_flops(model, shapes: Mapping[str, tuple[int, ...]], batch: int = 2) -> tuple[float, float, int]:
    """(training FLOPs per sample, forward FLOPs per sample, trainable params).

    The forward pass is counted; a training sample costs forward + backward = 3 x forward
    (the backward pass computes gradients for activations and weights: 2 x forward). The
    backward is not counted directly because torch 2.11's counter charges a grouped
    convolution's weight gradient as if it were ungrouped (x groups: 33x the forward for a
    32-group depthwise conv, tests/test_forecast.py), which would inflate MobileNetV2 and
    ResNeXt by an order of magnitude."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from auscult.models import count_trainable

    device = next(iter(model.parameters())).device  # "meta": shapes only, nothing computed
    x = {k: torch.randn(batch, *shapes[k], device=device) * 0.1 for k in model.inputs}
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(x)
    fwd = fc.get_total_flops() / batch
    return float(fwd * (1 + BACKWARD_OVER_FORWARD)), float(fwd), int(count_trainable(model))


@dataclass
class Job:
    table: str
    paper: str
    variant: str
    n_params: int
    train_flops_per_sample: float
    fwd_flops_per_sample: float
    train_samples_per_epoch: float
    fwd_samples_per_epoch: float
    fwd_samples_once: float
    max_epochs: int
    expected_epochs: int
    seeds: int
    job: str  # the training job that trains this variant (layout.train_job; Koike: its model)
    batch_size: int = 1
    steps_per_epoch: int = 1
    max_steps: int | None = None  # the training config's step cap (None: none)
    peak_bytes: float = float("nan")  # estimated peak memory of one training job

    def train_epochs(self, epochs: float) -> float:
        """Epochs' worth of training batches at ``epochs``: fewer under a ``max_steps`` cap."""
        if self.max_steps is None:
            return epochs
        return min(epochs, self.max_steps / self.steps_per_epoch)

    def epochs_run(self, epochs: float) -> int:
        """Epochs (validation passes) at ``epochs``: a step cap's partial epoch is still validated."""
        return int(math.ceil(self.train_epochs(epochs)))

    @property
    def step_flops(self) -> float:
        """FLOPs of one optimizer step (a batch's forward and backward passes, both of SAM's)."""
        return self.train_flops_per_sample * self.train_samples_per_epoch / self.steps_per_epoch

    def flops(self, epochs: float) -> float:
        """Total FLOPs of one seed's training (and evaluation) job at ``epochs``."""
        return (self.train_flops_per_sample * self.train_samples_per_epoch * self.train_epochs(epochs)
                + self.fwd_flops_per_sample * self.fwd_samples_per_epoch * self.epochs_run(epochs)
                + self.fwd_flops_per_sample * self.fwd_samples_once)


def jobs(config: Mapping, root: str | Path = ".") -> list[Job]:
    """One :class:`Job` per (table, variant) of the enabled papers (seeds counted in it)."""
    import torch

    torch.set_grad_enabled(True)
    _import_before_meta()
    out: list[Job] = []
    for paper in config["papers"]:
        hooks = _hooks(paper)
        if hooks is None:  # a paper without a FORECAST module is not forecast
            continue
        for table, rows in config[paper]["tables"].items():
            for v in hooks.table_runs(config, rows):
                counted = _counted_model(config, paper, v)
                tr, fw, n_params = _flops(*counted)
                w = hooks.workload(config, v, root)
                max_e, patience = w["max_epochs"], w["patience"]
                expected = max_e if patience is None else min(max_e, EXPECTED_STOP_PATIENCES * patience)
                bs, passes = w["batch_size"], w["passes"]
                peak = peak_bytes(_memory(*counted), bs, sam=passes == 2)
                out.append(Job(f"{paper}_{table}", paper, v, n_params, tr, fw, w["train_samples"], w["fwd_samples"],
                               w["once"], max_e, expected, len(layout.seeds(config, paper, v)),
                               layout.train_job(config, paper, v), batch_size=bs,
                               steps_per_epoch=max(1, math.ceil(w["train_samples"] / passes / bs)),
                               max_steps=w["max_steps"], peak_bytes=peak))
    return out


def job_slots(j: Job) -> int:
    """gpu_slots of a forecast job: as :func:`job_gpu_slots` (parameters, and memory where counted)."""
    return gpu_slots(j.n_params) if math.isnan(j.peak_bytes) else max(gpu_slots(j.n_params), memory_slots(j.peak_bytes))


def forecast_frame(job_list: list[Job], *, peak_tflops: float = H100_BF16_DENSE_TFLOPS) -> pd.DataFrame:
    """Per table: jobs, PFLOPs and GPU-hours at max and expected epochs, one-GPU wall with sharing."""
    rows = []
    distinct = list({(j.paper, j.variant): j for j in job_list}.values())
    groups = [(t, [j for j in job_list if j.table == t]) for t in dict.fromkeys(j.table for j in job_list)]
    groups.append(("all tables (each job once)", distinct))
    for table, js in groups:
        # jobs, not runs: a job may train several variants (Koike: a model on every input)
        rec = {"table": table, "jobs": sum({(j.paper, j.job): j.seeds for j in js}.values())}
        for label, epochs in (("max", lambda j: j.max_epochs), ("expected", lambda j: j.expected_epochs)):
            flops = [j.flops(epochs(j)) * j.seeds for j in js]
            gpu_s = [f / (peak_tflops * 1e12 * utilisation(j.n_params)) for f, j in zip(flops, js, strict=True)]
            rec[f"pflop_{label}"] = sum(flops) / 1e15
            rec[f"gpu_h_{label}"] = sum(gpu_s) / 3600
            shared = sum(s * job_slots(j) / GPU_SLOTS_PER_GPU for s, j in zip(gpu_s, js, strict=True))
            longest = max(s / j.seeds for s, j in zip(gpu_s, js, strict=True))
            rec[f"wall_1gpu_h_{label}"] = max(shared, longest) / 3600
        rows.append(rec)
    return pd.DataFrame(rows)


def per_model_frame(job_list: list[Job]) -> pd.DataFrame:
    seen, rows = set(), []
    for j in job_list:
        if (j.paper, j.variant) in seen:
            continue
        seen.add((j.paper, j.variant))
        rows.append({"paper": j.paper, "variant": j.variant, "params_M": j.n_params / 1e6,
                     "train_gflop_per_sample": j.train_flops_per_sample / 1e9,
                     "eval_gflop_per_sample": j.fwd_flops_per_sample / 1e9,
                     "utilisation": utilisation(j.n_params), "batch": j.batch_size,
                     "peak_mem_gb": j.peak_bytes / 1e9, "jobs_per_80gb_gpu": jobs_per_gpu(j.peak_bytes),
                     "gpu_slots": job_slots(j)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- check
def cpu_matmul_tflops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """This CPU's fp32 matmul rate (TFLOP/s) with ``threads`` threads: the 'peak' of the check."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b
        best = math.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)
    return 2 * n**3 / best / 1e12


def measured_vs_forecast(config: Mapping, job_list: list[Job], root: str | Path = ".",
                         threads: int = 1) -> pd.DataFrame:
    """For each training job of ``config`` found here (a Koike job trains one model on all its
    inputs, so its row sums their FLOPs): counted FLOPs at the epochs it ran,
    the time they take at this CPU's matmul rate, the measured wall time (benchmark file),
    and their ratio (= the fraction of matmul peak the job reached). The ``step_*`` columns
    are the same for the optimizer steps alone: their counted FLOPs (steps run x FLOPs per
    step), their measured time (steps x s/step of the benchmark record: training passes only,
    no start-up, validation or evaluation) and the share of matmul peak they reached, which
    does not depend on how much of a short job is start-up and evaluation."""
    from auscult.reporting.compute_cost import read_benchmark

    peak = cpu_matmul_tflops(threads)
    by_job: dict[tuple[str, str], list[Job]] = {}  # the variants each training job trains
    for j in {(j.paper, j.variant): j for j in job_list}.values():
        by_job.setdefault((j.paper, j.job), []).append(j)
    rows = []
    for (paper, name), js in by_job.items():
        for s in layout.seeds(config, paper, js[0].variant):
            b = read_benchmark(Path(root) / layout.train_benchmark(config, paper, js[0].variant, s))
            summaries = [Path(root) / layout.run_dir(config, paper, j.variant, s) / "train_summary.json" for j in js]
            if b is None or not all(f.is_file() for f in summaries):
                continue
            read = [json.loads(f.read_text()) for f in summaries]
            epochs = [r.get("epochs_run") or j.max_epochs for j, r in zip(js, read, strict=True)]
            flops = sum(j.flops(e) - j.fwd_flops_per_sample * j.fwd_samples_once  # the training job only
                        for j, e in zip(js, epochs, strict=True))
            at_peak = flops / (peak * 1e12)
            steps_run = [r.get("steps_run") for r in read]
            step_flops = (sum(n * j.step_flops for j, n in zip(js, steps_run, strict=True))
                          if all(steps_run) else float("nan"))
            step_s = b.get("steps", float("nan")) * b.get("s_per_step", float("nan"))
            rows.append({"paper": paper, "variant": name, "seed": s, "epochs_run": "/".join(map(str, epochs)),
                         "gflop": flops / 1e9, "forecast_at_peak_s": at_peak, "measured_s": b["wall_s"],
                         "ratio_forecast_over_measured": at_peak / b["wall_s"] if b["wall_s"] else float("nan"),
                         "step_gflop": step_flops / 1e9, "step_s": step_s,
                         "step_share_of_peak": step_flops / (peak * 1e12) / step_s if step_s else float("nan"),
                         "cpu_matmul_tflops": peak})
    return pd.DataFrame(rows)


def measured_step_forecast(paper_jobs: list[Job], measured_config: Mapping, root: str | Path = ".",
                           threads: int = 1, cpu_efficiency: float = 0.167) -> pd.DataFrame:
    """GPU-hours per table from *measured* seconds per optimizer step: a budget that keeps the
    paper's shapes and batch sizes (the rehearsal) ran each training job here, and its benchmark
    record holds the job's seconds per step (:func:`auscult.runlog.note_training`). Per job:
    paper steps (steps per epoch x expected epochs x seeds) x measured s/step on this CPU = CPU
    hours; x (this CPU's effective rate / the H100's) = GPU hours, where the CPU's effective rate
    is ``cpu_efficiency`` x its measured fp32 matmul rate and the H100's its bf16 peak x the
    utilisation assumed for the job's size (:data:`UTILISATION`). Where a CUDA run measured its
    GPU memory, ``gpu_mem_gb`` (what the job needs), ``jobs_per_80gb_gpu`` and ``gpu_slots`` come
    from that (:func:`measured_need`, as the rules size them); else from the counted estimate
    (``peak_bytes``). ``peak_rss_gb_cpu`` is the job's host memory here (GiB): on a CPU it holds
    the model, activations and the cached features, so it bounds, but is not, GPU memory."""
    from auscult.reporting.compute_cost import read_benchmark

    cpu_tflops = cpu_matmul_tflops(threads) * cpu_efficiency
    rows = []
    for j in paper_jobs:
        seed = layout.seeds(measured_config, j.paper, j.variant)[0]
        b = read_benchmark(Path(root) / layout.train_benchmark(measured_config, j.paper, j.variant, seed))
        per_step = b["s_per_step"] if b is not None else float("nan")
        steps = j.steps_per_epoch * j.train_epochs(j.expected_epochs) * j.seeds
        cpu_h = steps * per_step / 3600
        ratio = cpu_tflops / (H100_BF16_DENSE_TFLOPS * utilisation(j.n_params))
        gpu_bytes = b["gpu_max_mem_mb"] * 2**20 if b is not None else float("nan")
        measured = not math.isnan(gpu_bytes)
        need = measured_need(gpu_bytes) if measured else j.peak_bytes
        rows.append({"table": j.table, "paper": j.paper, "variant": j.variant, "paper_steps": steps,
                     "measured_s_per_step_cpu": per_step, "cpu_h": cpu_h, "gpu_h": cpu_h * ratio,
                     "gpu_h_from_flops": j.flops(j.expected_epochs) * j.seeds
                     / (H100_BF16_DENSE_TFLOPS * 1e12 * utilisation(j.n_params)) / 3600,
                     "cpu_over_gpu_rate": ratio,
                     "peak_rss_gb_cpu": b["peak_rss_mb"] / 1024 if b is not None else float("nan"),
                     "gpu_mem_gb": need / 1e9, "gpu_mem_from": "measured (CUDA)" if measured else "estimate",
                     "jobs_per_80gb_gpu": jobs_per_gpu(need),
                     "gpu_slots": memory_slots(need) if measured else job_slots(j)})
    return pd.DataFrame(rows)
