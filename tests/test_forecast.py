"""The compute forecast counts real models and states its assumptions; no timing asserted."""

from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from auscult import forecast
from auscult.params import load_params

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
