"""GPU sharing: where nvidia-smi is visible each training/evaluation job asks for gpu_slots
sized by its model; without one, jobs ask for none (CPU runs unchanged). Dry runs only."""

from __future__ import annotations

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
