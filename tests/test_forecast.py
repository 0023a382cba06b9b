"""The compute forecast counts real models and states its assumptions; no timing asserted."""

import copy
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from auscult import forecast
from auscult.params import deep_merge, load_params

REPO = Path(__file__).resolve().parents[1]


def test_grouped_conv_backward_is_overcounted_so_we_use_three_forwards():
    conv = torch.nn.Conv2d(32, 32, 3, groups=32, bias=False)
    x = torch.randn(1, 32, 16, 16)
    with FlopCounterMode(display=False) as f:
        conv(x)
    fwd = f.get_total_flops()
    with FlopCounterMode(display=False) as f:
        conv(x).sum().backward()
    # if torch fixes its counter, count_flops can count the backward pass directly again
    assert f.get_total_flops() / fwd > 10


def test_forward_flops_of_a_linear_layer_are_exact():
    class Lin(torch.nn.Module):
        inputs = ("x",)

        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(10, 4, bias=False)

        def forward(self, b):
            return self.fc(b["x"])

    train, fwd, n = forecast.count_flops(Lin(), {"x": (10,)})
    assert fwd == 2 * 10 * 4 and train == 3 * fwd and n == 40


def test_demo_forecast_covers_every_table_and_scales_with_epochs():
    cfg = load_params(REPO / "params.yaml", [REPO / "config" / "demo.yaml"])
    jobs = forecast.jobs(cfg, REPO / "no-such-root")
    frame = forecast.forecast_frame(jobs)
    tables = {f"{p}_{t}" for p in cfg["papers"] for t in cfg[p]["tables"]}
    assert set(frame["table"]) == tables | {"all tables (each job once)"}
    total = frame.set_index("table").loc["all tables (each job once)"]
    # one training job per (variant, seed); Koike: per (model, seed), the model's inputs in one job
    others = sum(j.seeds for j in {(j.paper, j.variant): j for j in jobs if j.paper != "koike"}.values())
    assert total["jobs"] == others + len(cfg["koike"]["models"]) * len(cfg["koike"]["seeds"])
    j = jobs[0]
    assert j.flops(4) > j.flops(2) > 0
    assert (frame["gpu_h_max"] >= frame["gpu_h_expected"]).all()
    assert (frame["wall_1gpu_h_max"] <= frame["gpu_h_max"] + 1e-12).all()
    assert forecast.gpu_slots(2.6e6) == 1 and forecast.gpu_slots(86e6) == forecast.GPU_SLOTS_PER_GPU


def test_counting_on_meta_leaves_no_meta_tensors_behind():
    """Modules first imported inside a meta-device block would keep meta tensors."""
    import torchaudio.compliance.kaldi as kaldi

    cfg = load_params(REPO / "params.yaml", [REPO / "config" / "demo.yaml"])
    forecast.job_gpu_slots(cfg, "ast_sam", "ast")
    assert kaldi.EPSILON.device.type == "cpu"


class _TwoLayers(torch.nn.Module):
    inputs = ("x",)

    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(10, 6, bias=False)
        self.b = torch.nn.Linear(6, 4, bias=False)

    def forward(self, batch):
        return self.b(torch.relu(self.a(batch["x"])))


def test_memory_counts_saved_activations_once_and_parameters_apart():
    model = _TwoLayers()
    model.a.weight.requires_grad_(False)
    mem = forecast.count_memory(model, {"x": (10,)}, batch=4)
    # saved for backward per sample: relu's output (6 floats, also b's input), not a's input
    # (nothing before it needs a gradient) and not b's weight (a parameter, counted apart)
    assert mem == {"activations_per_sample": 6 * 4, "trainable": 24, "frozen": 60}
    peak = forecast.peak_bytes(mem, 32)
    assert peak == 24 * 32 + 16 * 24 + 4 * 60 + forecast.CUDA_OVERHEAD_BYTES
    assert forecast.peak_bytes(mem, 32, sam=True) == peak + 4 * 24
    assert forecast.jobs_per_gpu(20e9) == 4 and forecast.memory_slots(20e9) == 1
    assert forecast.memory_slots(30e9) == 2 and forecast.memory_slots(500e9) == forecast.GPU_SLOTS_PER_GPU


def test_paper_forecast_memory_per_job_and_gpu_slots(paper):
    """Peak memory grows with the batch and the input; slots are the larger share of a GPU."""
    af = forecast.job_peak_bytes(paper, "audiofuse", "audiofuse")
    assert 1e9 < af < forecast.GPU_MEMORY_BYTES
    half = copy.deepcopy(paper)
    half["audiofuse"]["training"]["batch_size"] = 16
    assert forecast.job_peak_bytes(half, "audiofuse", "audiofuse") < af
    lin = forecast.job_peak_bytes(paper, "koike", "resnext101_32x8d_linear")
    assert lin > forecast.job_peak_bytes(paper, "koike", "resnext101_32x8d_logmel")  # 201 bins > 64 mels
    assert forecast.job_gpu_slots(paper, "audiofuse", "audiofuse") == 1
    big = copy.deepcopy(paper)
    big["audiofuse"]["training"]["batch_size"] = 512  # ~80 GB of activations: a whole GPU
    assert forecast.job_gpu_slots(big, "audiofuse", "audiofuse") == forecast.GPU_SLOTS_PER_GPU


def test_a_step_cap_bounds_the_forecast(demo, repo_root):
    cap = {"training": {"max_steps": 2}}
    capped = deep_merge(demo, {"audiofuse": cap, "koike": cap, "ast_sam": cap})
    full = {(j.paper, j.variant): j for j in forecast.jobs(demo, repo_root / "no-such-root")}
    jobs = {(j.paper, j.variant): j for j in forecast.jobs(capped, repo_root / "no-such-root")}
    assert jobs.keys() == full.keys()
    for key, j in jobs.items():
        f = full[key]
        assert j.max_steps == 2 and f.max_steps is None
        assert j.steps_per_epoch == f.steps_per_epoch
        assert f.train_epochs(f.max_epochs) == f.max_epochs and f.epochs_run(f.max_epochs) == f.max_epochs
        if j.steps_per_epoch * j.max_epochs <= 2:  # the cap does not bind (the demo's one-step CNN14)
            assert j.flops(j.max_epochs) == f.flops(f.max_epochs)
            continue
        assert j.train_epochs(j.max_epochs) == min(j.max_epochs, 2 / j.steps_per_epoch)
        assert j.epochs_run(j.max_epochs) == (1 if j.steps_per_epoch >= 2 else 2)
        assert j.flops(j.max_epochs) < f.flops(f.max_epochs)
        assert j.peak_bytes == f.peak_bytes  # same shapes and batch sizes: same memory
    ast = jobs[("ast_sam", "ast_wrs_sam")]
    assert ast.steps_per_epoch == jobs[("ast_sam", "ast")].steps_per_epoch  # a SAM pair is one step


def test_models_that_refuse_meta_are_counted_on_fake_tensors_exactly():
    """ImageNet networks' input norm runs in an autocast region, which "meta" refuses: their
    FLOPs are counted on fake tensors, the same as a real pass."""
    import json

    from auscult.models import build_model

    cfg = {"arch": "imagenet", "name": "resnet18", "input": "logmel", "input_norm": "batchnorm", "dropout": 0.5}
    shapes = {"logmel": (32, 24)}
    real = forecast.count_flops(build_model(cfg), shapes)
    assert forecast._flops(json.dumps(cfg, sort_keys=True), json.dumps(shapes)) == real


def test_synthetic_icbhi_size_is_the_expected_cycle_count(demo):
    s = demo["datasets"]["icbhi2017"]["synthetic"]
    size = forecast.dataset_size(demo, "icbhi2017", REPO / "no-such-root")
    cycles = s["n_patients"] * sum(s["recordings_per_patient"]) / 2 * sum(s["cycles_per_recording"]) / 2
    assert size["records"] == round(cycles) and size["test"] == round(cycles * s["test_fraction"])


def test_gpu_hours_from_measured_seconds_per_step(repo_root, tmp_path):
    """A training job's measured s/step (its benchmark record) x its steps at the budget, scaled
    by the stated CPU/GPU rate ratio; rows without a measured run stay NaN, not guessed."""
    import math

    from auscult import forecast, layout
    from auscult.params import load_params

    cfg = load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml"])
    jobs = [j for j in forecast.jobs(cfg, repo_root) if j.paper == "audiofuse"]
    j = jobs[0]
    bench = tmp_path / layout.train_benchmark(cfg, j.paper, j.variant, layout.seeds(cfg, j.paper, j.variant)[0])
    bench.parent.mkdir(parents=True)
    bench.write_text("s\th:m:s\tmax_rss\tmean_load\tcpu_time\tsteps\ts_per_step\tgpu_max_mem_mb\n"
                     "10.0\t00:00:10\t500.0\t100.0\t10.0\t4\t0.25\t\n")
    df = forecast.measured_step_forecast(jobs, cfg, tmp_path, threads=1)
    row = df[(df["table"] == j.table) & (df["variant"] == j.variant)].iloc[0]
    steps = j.steps_per_epoch * j.train_epochs(j.expected_epochs) * j.seeds
    assert row["paper_steps"] == steps and row["cpu_h"] == pytest.approx(steps * 0.25 / 3600)
    assert row["gpu_h"] == pytest.approx(row["cpu_h"] * row["cpu_over_gpu_rate"]) and row["gpu_h"] > 0
    assert row["gpu_mem_from"] == "estimate" and row["jobs_per_80gb_gpu"] >= 1
    assert row["peak_rss_gb_cpu"] == pytest.approx(500.0 / 1024)
    others = df[df["variant"] != j.variant]
    assert others["measured_s_per_step_cpu"].isna().all() and others["gpu_h"].isna().all()
    assert not math.isnan(row["gpu_h_from_flops"])
    # a CUDA run's torch.cuda.max_memory_allocated sizes the job, as the rules' gpu_slots do
    bench.write_text("s\th:m:s\tmax_rss\tmean_load\tcpu_time\tsteps\ts_per_step\tgpu_max_mem_mb\n"
                     "10.0\t00:00:10\t500.0\t100.0\t10.0\t4\t0.25\t30000.0\n")
    row = forecast.measured_step_forecast(jobs, cfg, tmp_path, threads=1).query("variant == @j.variant").iloc[0]
    need = 30000.0 * 2**20 * forecast.GPU_MEMORY_MARGIN + forecast.CUDA_OVERHEAD_BYTES
    assert row["gpu_mem_from"] == "measured (CUDA)" and row["gpu_mem_gb"] == pytest.approx(need / 1e9)
    assert row["jobs_per_80gb_gpu"] == 2 and row["gpu_slots"] == forecast.measured_slots(30000.0 * 2**20) == 2


def test_the_optimizer_steps_share_of_peak_leaves_out_start_up_and_validation(repo_root, tmp_path, monkeypatch):
    """measured_vs_forecast's step columns: steps run x FLOPs per step over steps x s/step,
    so a job's start-up and validation (in its wall time) do not lower the step share."""
    import json

    from auscult import forecast, layout
    from auscult.params import load_params

    monkeypatch.setattr(forecast, "cpu_matmul_tflops", lambda threads=1: 0.1)  # 100 GFLOP/s
    cfg = load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml"])
    j = next(j for j in forecast.jobs(cfg, repo_root) if j.paper == "audiofuse")
    seed = layout.seeds(cfg, j.paper, j.variant)[0]
    bench = tmp_path / layout.train_benchmark(cfg, j.paper, j.variant, seed)
    bench.parent.mkdir(parents=True)
    step_s = j.step_flops / 1e11 / 0.5  # each step at half of the 100 GFLOP/s
    bench.write_text("s\th:m:s\tmax_rss\tmean_load\tcpu_time\tsteps\ts_per_step\tgpu_max_mem_mb\n"
                     f"{3 * step_s + 60}\t00:01:00\t500.0\t100.0\t10.0\t3\t{step_s}\t\n")
    run = tmp_path / layout.run_dir(cfg, j.paper, j.variant, seed)
    run.mkdir(parents=True)
    (run / "train_summary.json").write_text(json.dumps({"epochs_run": 1, "steps_run": 3}))
    row = forecast.measured_vs_forecast(cfg, [j], tmp_path, threads=1).iloc[0]
    assert row["step_gflop"] == pytest.approx(3 * j.step_flops / 1e9)
    assert row["step_s"] == pytest.approx(3 * step_s)
    assert row["step_share_of_peak"] == pytest.approx(0.5)
    assert row["ratio_forecast_over_measured"] < 0.5  # the wall time adds the 60 s of start-up
