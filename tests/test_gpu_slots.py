"""GPU sharing: where nvidia-smi is visible each training/evaluation job asks for gpu_slots
sized by its model; without one, jobs ask for none (CPU runs unchanged). Dry runs only."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from scratch import copy_workflow

BIN = Path(sys.executable).parent


def dry_run(work: Path, path_prefix: str | None, *targets: str) -> str:
    path = os.pathsep.join(p for p in (path_prefix, str(BIN), os.environ["PATH"]) if p)
    env = dict(os.environ, PATH=path)
    env.pop("AUSCULT_DATA_MIRROR", None)
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "2", "--configfile", "config/demo.yaml",
                           "--", *targets], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def slots_by_rule(out: str) -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for block in out.split("\nrule ")[1:]:
        rule = block.split(":", 1)[0].strip()
        m = re.search(r"gpu_slots=(\d+)", block)
        if m:
            found.setdefault(rule, set()).add(int(m.group(1)))
    return found


@pytest.fixture(scope="module")
def work(repo_root, tmp_path_factory):
    return copy_workflow(repo_root, tmp_path_factory.mktemp("gpu"))


def test_jobs_share_a_gpu_by_model_size(work, tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (fake / "nvidia-smi").chmod(0o755)
    out = dry_run(work, str(fake), "audiofuse_train_audiofuse", "koike_train_resnext101_32x8d", "koike_train_mobilenet_v2")
    slots = slots_by_rule(out)
    assert slots["audiofuse_train"] == {1}  # 2.6 M parameters: four share one GPU
    assert slots["koike_run_mobilenet_v2"] == {1}  # one job trains both inputs
    assert slots["koike_run_resnext101_32x8d"] == {4}  # a whole GPU


def test_cpu_runs_ask_for_no_gpu(work):
    import shutil

    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has nvidia-smi")
    out = dry_run(work, None, "audiofuse_train_audiofuse")
    assert all(v == {0} for v in slots_by_rule(out).values())


# --------------------------------------------------------------------------- measured memory
def _tree_with_rehearsal_record(repo_root: Path, root: Path, gpu_mb: str) -> dict:
    """``root``: params.yaml, the rehearsal overlay and one rehearsal benchmark record of the
    AudioFuse training job with ``gpu_mb`` in its gpu_max_mem_mb column."""
    import shutil

    from auscult import layout
    from auscult.forecast import REHEARSAL_OVERLAY
    from auscult.params import load_params

    (root / "config").mkdir(parents=True)
    shutil.copy(repo_root / "params.yaml", root / "params.yaml")
    shutil.copy(repo_root / REHEARSAL_OVERLAY, root / REHEARSAL_OVERLAY)
    rehearsal = load_params(root / "params.yaml", [root / REHEARSAL_OVERLAY])
    seed = layout.seeds(rehearsal, "audiofuse", "audiofuse")[0]
    record = root / layout.train_benchmark(rehearsal, "audiofuse", "audiofuse", seed)
    record.parent.mkdir(parents=True)
    record.write_text("s\th:m:s\tmax_rss\tmean_load\tcpu_time\tsteps\ts_per_step\tgpu_max_mem_mb\n"
                      f"100.0\t0:01:40\t9000.0\t180.0\t180.0\t2\t40.0\t{gpu_mb}\n")
    return rehearsal


def test_slots_come_from_the_rehearsals_measured_gpu_memory(repo_root, tmp_path):
    from auscult import forecast
    from auscult.params import load_params

    _tree_with_rehearsal_record(repo_root, tmp_path, "40000.0")
    paper = load_params(repo_root / "params.yaml")
    measured = forecast.measured_gpu_bytes(paper, "audiofuse", "audiofuse", tmp_path)
    assert measured == 40000.0 * 2**20
    # 41.9 GB x 1.1 + 1 GB of CUDA context = 47.1 GB: 3 of 4 slots of an 80 GB GPU
    assert forecast.job_gpu_slots(paper, "audiofuse", "audiofuse", root=tmp_path) == 3
    # without a measurement the counted estimate and the parameters size it: 1 slot (2.6 M parameters)
    assert forecast.job_gpu_slots(paper, "audiofuse", "audiofuse") == 1
    # another variant has no record: counted
    assert math.isnan(forecast.measured_gpu_bytes(paper, "audiofuse", "vit_only", tmp_path))


def test_a_measurement_at_other_shapes_or_on_a_cpu_does_not_count(repo_root, tmp_path):
    from auscult import forecast
    from auscult.params import load_params

    _tree_with_rehearsal_record(repo_root, tmp_path / "gpu", "40000.0")
    cpu = load_params(repo_root / "params.yaml", [repo_root / "config/cpu.yaml"])  # smaller inputs and models
    assert math.isnan(forecast.measured_gpu_bytes(cpu, "audiofuse", "audiofuse", tmp_path / "gpu"))
    _tree_with_rehearsal_record(repo_root, tmp_path / "cpu", "")  # a CPU run records no GPU memory
    paper = load_params(repo_root / "params.yaml")
    assert math.isnan(forecast.measured_gpu_bytes(paper, "audiofuse", "audiofuse", tmp_path / "cpu"))
