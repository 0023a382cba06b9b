"""`auscult doctor --budget NAME`: the machine, the budget's forecast and a verdict (exit 0 =
fits here, 1 = does not, 2 = usage error). The machine is fixed by the tests, so the
verdicts do not depend on where they run."""

from __future__ import annotations

import re

import pytest

from auscult import cli, doctor

CPU_ONLY = doctor.Machine(cores=2, ram_total=16e9, ram_available=12e9, gpus=[], disk_free=500e9, root="/x")
H100 = doctor.Machine(cores=16, ram_total=128e9, ram_available=120e9, gpus=[("NVIDIA H100 80GB HBM3", 80e9)],
                      disk_free=500e9, root="/x")


def _doctor(monkeypatch, capsys, repo_root, budget, here, *extra):
    monkeypatch.setattr(doctor, "machine", lambda root=".": here)
    rc = cli.main(["doctor", "--budget", budget, "--root", str(repo_root), *extra])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_paper_budget_without_a_gpu_would_take_days_and_exits_nonzero(monkeypatch, capsys, repo_root):
    from auscult import forecast

    # the doctor measures this CPU's matmul rate; pinned here to the 2-core machine's 0.169 TFLOP/s
    monkeypatch.setattr(forecast, "cpu_matmul_tflops", lambda threads, **_: 0.0845 * threads)
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "paper", CPU_ONLY)
    assert rc == 1
    assert "2 CPU cores" in out and "no GPU" in out
    days = int(re.search(r"would take about (\d+) days here", out).group(1))
    assert days > 100
    # where the CPU rate comes from, and the ratio that scales the forecast's GPU-hours
    assert "measured fp32 matmul rate 169 GFLOP/s (2 threads) = 28.2 GFLOP/s" in out
    assert "Forecast of the paper budget" in out
    assert re.search(r"one H100-hour at the forecast's utilisation = [\d,]+ hours here", out)
    assert "verdict: NOT FEASIBLE HERE" in out


def test_demo_budget_fits_and_exits_zero(monkeypatch, capsys, repo_root):
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "demo", CPU_ONLY)
    assert rc == 0, out
    assert "budget demo (params.yaml + config/demo.yaml)" in out
    assert re.search(r"^verdict: OK", out, re.M)
    assert re.search(r"^memory: largest job ~[\d.]+ GB vs the memory available 12\.0 GB: OK", out, re.M)
    assert re.search(r"^disk: ~[\d.]+ GB .* vs 500\.0 GB free: OK", out, re.M)


def test_paper_budget_on_an_h100_fits(monkeypatch, capsys, repo_root):
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "paper", H100)
    assert rc == 0, out
    assert "NVIDIA H100 80GB HBM3 (80.0 GB)" in out and "on one GPU" in out


def test_too_little_memory_disk_or_time_exit_nonzero(monkeypatch, capsys, repo_root):
    small = doctor.Machine(cores=2, ram_total=2e9, ram_available=0.5e9, gpus=[], disk_free=500e9, root="/x")
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "demo", small)
    assert rc == 1 and "does not fit in the memory available" in out
    full = doctor.Machine(cores=2, ram_total=16e9, ram_available=12e9, gpus=[], disk_free=1e8, root="/x")
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "demo", full)
    assert rc == 1 and "of disk needed" in out
    rc, out, _ = _doctor(monkeypatch, capsys, repo_root, "demo", CPU_ONLY, "--max-hours", "0.0001")
    assert rc == 1 and "more than --max-hours 0.0001" in out


def test_unknown_budget_is_one_line_exit_2(monkeypatch, capsys, repo_root):
    rc, out, err = _doctor(monkeypatch, capsys, repo_root, "nope", CPU_ONLY)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "auscult: error: no budget 'nope'" in err and "rehearsal" in err


def test_disk_estimate_counts_feature_caches(demo):
    # a PhysioNet record of the demo's AudioFuse recipe: a 224 x 224 image + 5 s at 2 kHz, float32
    assert doctor.recipe_record_values(demo, "audiofuse") == 224 * 224 + 10_000
    assert doctor.recipe_record_values(demo, "floor_stats") == 160
    assert doctor.recipe_record_values(demo, "no_such_recipe") is None


def test_this_machine_is_described():
    here = doctor.machine(".")
    assert here.cores >= 1 and here.ram_total >= here.ram_available > 0 and here.disk_free > 0
    assert isinstance(here.gpus, list)


@pytest.mark.parametrize("hours,text", [(0.001, "4 s"), (0.5, "30 min"), (5, "5.0 h"), (240, "10 days")])
def test_durations_read_naturally(hours, text):
    assert doctor._duration(hours) == text
