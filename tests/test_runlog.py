"""runlog.end_job: a finished job exits 0 at once, with its log and streams flushed and its
benchmark record written; every workflow script ends with it (and only there)."""

import math
import time
from pathlib import Path

import pandas as pd
import pytest
from scratch import run_python as _run

from auscult import runlog
from auscult.reporting.compute_cost import read_benchmark

ROOT = Path(__file__).parents[1]


def test_end_job_flushes_the_log_and_streams_and_exits_0(tmp_path):
    log = tmp_path / "job.log"
    out = _run(
        "import atexit, sys\n"
        "from auscult import runlog\n"
        f"log = runlog.setup({str(log)!r})\n"
        "atexit.register(lambda: print('teardown ran'))\n"
        "log.info('finished the job')\n"
        "sys.stdout.write('buffered on stdout')\n"
        "runlog.end_job()\n"
        "print('after end_job')\n"
    )
    assert out.returncode == 0, out.stderr
    assert "finished the job" in log.read_text() and "finished the job" in out.stderr
    assert out.stdout == "buffered on stdout"  # flushed; nothing after end_job, no teardown
    assert "teardown ran" not in out.stdout


def test_a_job_that_fails_before_end_job_still_exits_1(tmp_path):
    out = _run(f"from auscult import runlog\nrunlog.setup({str(tmp_path / 'j.log')!r})\n1/0\nrunlog.end_job()\n")
    assert out.returncode == 1 and "ZeroDivisionError" in out.stderr


def _fake_job(**logs):
    """A job object whose ``log`` is the Namedlist Snakemake gives a script (``log: ..., name=...``)."""
    from snakemake.iocontainers import Log

    return type("Job", (), {"log": Log(fromdict=logs)})()


def test_job_benchmark_is_the_named_log():
    assert runlog.job_benchmark(_fake_job(job="a.log", benchmark="b.tsv")) == "b.tsv"
    assert runlog.job_benchmark(_fake_job(job="a.log")) is None


def test_end_job_writes_the_benchmark_record_compute_cost_reads(tmp_path):
    bench = tmp_path / "benchmarks" / "job.tsv"
    t0 = time.perf_counter()
    out = _run(
        "import time\n"
        "from auscult import runlog\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.3: pass\n"  # 0.3 s of CPU in this process
        f"runlog.write_benchmark({str(bench)!r})\n"
    )
    outer_wall = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr
    df = pd.read_csv(bench, sep="\t")
    assert list(df.columns) == list(runlog.BENCHMARK_COLUMNS) and len(df) == 1
    row = df.iloc[0]
    assert row["cpu_time"] >= 0.3 and row["max_rss"] > 1
    # the wall time counts from the interpreter's start: at least its CPU, at most the run around it
    assert row["cpu_time"] - 0.02 <= row["s"] <= outer_wall
    assert row["mean_load"] == pytest.approx(100 * row["cpu_time"] / row["s"], abs=0.1)
    got = read_benchmark(bench)
    assert got["wall_s"] == row["s"] and got["cpu_s"] == row["cpu_time"] and got["peak_rss_mb"] == row["max_rss"]
    assert not list(bench.parent.glob(".tmp-*"))  # written atomically


def test_end_job_writes_no_record_for_a_rule_without_one(tmp_path):
    out = _run(f"from auscult import runlog\nrunlog.setup({str(tmp_path / 'j.log')!r})\nrunlog.end_job()\n")
    assert out.returncode == 0 and sorted(p.name for p in tmp_path.iterdir()) == ["j.log"]


def test_a_training_jobs_record_has_its_steps_and_seconds_per_step(tmp_path, monkeypatch):
    """One model trained on two inputs in one job: the record sums their steps and step time."""
    from auscult import runlog
    from auscult.reporting.compute_cost import read_benchmark

    monkeypatch.setattr(runlog, "_TRAINING", {"steps": 0, "step_s": 0.0, "gpu_mb": None})
    runlog.write_benchmark(tmp_path / "plain.tsv")
    assert "steps" not in (tmp_path / "plain.tsv").read_text()  # not a training job: no such columns
    runlog.note_training({"steps_run": 4, "s_per_step": 0.5, "gpu_max_memory_mb": None})
    runlog.note_training({"steps_run": 2, "s_per_step": 2.0, "gpu_max_memory_mb": 1234.5})
    runlog.write_benchmark(tmp_path / "train.tsv")
    b = read_benchmark(tmp_path / "train.tsv")
    assert b["steps"] == 6 and b["s_per_step"] == pytest.approx((4 * 0.5 + 2 * 2.0) / 6)
    assert b["gpu_max_mem_mb"] == pytest.approx(1234.5)
    assert math.isnan(read_benchmark(tmp_path / "plain.tsv")["s_per_step"])
