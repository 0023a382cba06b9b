"""reports/tables/compute_cost: sums of the benchmark files behind each table and model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from auscult import layout
from auscult.reporting import compute_cost as cc

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _bench(path: Path, wall: float, cpu: float, rss: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{wall}\t0:00:01\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")


def test_every_training_job_of_every_table_is_listed(demo):
    jobs = cc.jobs(demo)
    train = [j for j in jobs if j["stage"] == "train"]
    n_af = sum(len(layout.seeds(demo, "audiofuse", v)) for v in layout.table_variants(demo, "audiofuse"))
    assert n_af == 2 * 3 + 1 * 3  # T1's three models on 2 seeds, T3's extra shapes on 1 (demo.yaml)
    n_kk = len(demo["koike"]["seeds"]) * 8  # one job per model and seed, all its inputs
    n_as = len(demo["ast_sam"]["seeds"]) * 3
    n_floor = len(demo["audiofuse"]["seeds"]) + len(demo["koike"]["seeds"])  # the reference floor
    assert len(train) == n_af + n_kk + n_as + n_floor
    assert all(j["path"].endswith(".tsv") and "/benchmarks/" in j["path"] for j in jobs)
    t4 = {j["variant"] for j in jobs if "koike_t4_uar" in j["tables"] and j["stage"] == "train"}
    assert t4 == set(demo["koike"]["models"]) | {"floor (koike)"}
    floor = [j for j in train if j["variant"] == "floor (audiofuse)"]
    assert {j["path"] for j in floor} == {f"results/audiofuse/floor/benchmarks/{layout.floor_digest(demo, 'audiofuse')}"
                                          f"-seed{s}.tsv" for s in demo["audiofuse"]["seeds"]}
    assert all(j["tables"] == {"audiofuse_t1_physionet", "audiofuse_t2_pascal"} for j in floor)
    recipes = {j["variant"] for j in jobs if j["stage"] == "features"}
    assert {"physionet2016/floor_stats", "pascal/floor_stats"} <= recipes


def test_sums_and_missing(demo, tmp_path):
    jobs = [j for j in cc.jobs(demo) if j["variant"] in ("cnn_only", "mobilenet_v2")]
    for i, j in enumerate(jobs[:-1]):  # the last job has no benchmark file
        _bench(tmp_path / j["path"], wall=10.0 + i, cpu=5.0, rss=100.0 * (i + 1))
    df = cc.cost_frame(jobs, device="cpu", root=tmp_path)
    total = df[df.scope == "total"].iloc[0]
    assert total.n_jobs == len(jobs) and total.n_missing == 1
    assert total.wall_s == pytest.approx(sum(10.0 + i for i in range(len(jobs) - 1)))
    assert total.cpu_s == pytest.approx(5.0 * (len(jobs) - 1))
    assert total.peak_rss_mb == pytest.approx(100.0 * (len(jobs) - 1))
    assert set(df[df.scope == "model"].name) == {"cnn_only", "mobilenet_v2"}
    t1 = df[(df.scope == "table") & (df.name == "audiofuse_t1_physionet") & (df.stage == "train")].iloc[0]
    assert t1.n_jobs == len(demo["audiofuse"]["seeds"])
    cc.write_compute_cost(tmp_path / "out", df, provenance={"x": "y"})
    assert pd.read_csv(tmp_path / "out" / "compute_cost.csv").shape[0] == len(df)
    assert "device" in (tmp_path / "out" / "compute_cost.md").read_text()


def test_elapsed_is_the_union_of_job_intervals(demo, tmp_path):
    """Three 10 s jobs: two overlap by 5 s (15 s of wall clock), the third starts 100 s later
    (a separate invocation: the gap is not work). Elapsed 25 s, summed 30 s."""
    import os

    jobs = [j for j in cc.jobs(demo) if j["stage"] == "train"][:3]
    assert len(jobs) == 3
    for j, end in zip(jobs, (1_000_000.0, 1_000_005.0, 1_000_115.0), strict=True):
        _bench(tmp_path / j["path"], wall=10.0, cpu=5.0, rss=100.0)
        os.utime(tmp_path / j["path"], (end, end))
    df = cc.cost_frame(jobs, device="cpu", root=tmp_path)
    elapsed = df[(df.scope == "total") & (df.name == cc.ELAPSED)].iloc[0]
    assert elapsed.wall_s == pytest.approx(25.0)
    assert df[(df.scope == "total") & (df.name == "all jobs")].iloc[0].wall_s == pytest.approx(30.0)


def test_each_training_job_row_names_its_own_device(demo, tmp_path):
    """A job row says cuda only where its record holds GPU memory (a CUDA run always records
    it), not the union of the build's devices."""
    jobs = [j for j in cc.jobs(demo) if j["stage"] == "train"][:2]
    header = "s\th:m:s\tmax_rss\tmean_load\tcpu_time\tsteps\ts_per_step\tgpu_max_mem_mb\n"
    for j, gpu in zip(jobs, ("", "2048.0"), strict=True):
        (tmp_path / j["path"]).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / j["path"]).write_text(header + f"10.0\t0:00:10\t100.0\t100.0\t10.0\t4\t0.5\t{gpu}\n")
    df = cc.cost_frame(jobs, device="CPU (x86_64, scikit-learn), cpu, cuda", root=tmp_path)
    rows = df[df.scope == "job"]
    assert rows["device"].tolist() == ["cpu", "cuda"] and rows["s_per_step"].tolist() == [0.5, 0.5]
