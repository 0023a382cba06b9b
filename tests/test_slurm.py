"""The workflow through a real Slurm: profiles/slurm on a one-node cluster on 127.0.0.1.

Runs only where its prerequisites can be had: root, apt-get (it installs Debian's
slurm-wlm and munge) and snakemake-executor-plugin-slurm in the venv; otherwise skipped
with the reason. Starts munged, slurmctld and slurmd (tests/slurm/start.sh; the node
declares a stand-in GPU so training/evaluation jobs really are submitted with --gpus=1),
runs a tiny demo budget with `snakemake --workflow-profile profiles/slurm`, checks every
job went through sbatch with a log per job, compares the tables with a local run of the
same workflow, then stops the daemons.

Writes /etc/slurm/{slurm.conf,gres.conf}: meant for throwaway CI machines/containers.
Set AUSCULT_SKIP_SLURM=1 to skip it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from scratch import copy_workflow, small_demo_params, write_params

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent / "slurm"
# the scratch params keep one Koike model: its training rule is koike_run_mobilenet_v2
THREADS = ["--set-threads", "features=2", "audiofuse_train=1", "audiofuse_evaluate=1", "koike_run_mobilenet_v2=1",
           "ast_sam_train=1", "ast_sam_evaluate=1"]
TABLES = ["audiofuse_t1_physionet", "audiofuse_t2_pascal", "audiofuse_t3_vit_ablation", "koike_t4_uar",
          "koike_t5_spec_sens_f1", "ast_sam_t6_ablation"]
# The plugin first looks at a submitted job after 40 s, and waits 10 s longer after each round
# in which nothing finished: most of the demo's time through Slurm was waiting. A one-node
# test cluster answers squeue at once, so look every 2 s (the profile keeps the defaults).
POLL = ["--slurm-init-seconds-before-status-checks", "2", "--seconds-between-status-checks", "2"]
# rules that ask Slurm for a GPU (profiles/slurm/profile.yaml set-resources)
# (Koike: one rule per model, koike_run_<model>)
GPU_RULES = ("audiofuse_train", "audiofuse_evaluate", "koike_run_mobilenet_v2", "ast_sam_train", "ast_sam_evaluate")


def env() -> dict:
    e = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DEBIAN_FRONTEND="noninteractive")
    e.pop("AUSCULT_DATA_MIRROR", None)
    return e


def sh(*cmd: str, cwd: Path | None = None, timeout: int = 600, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
    return proc


def prerequisites() -> None:
    if os.environ.get("AUSCULT_SKIP_SLURM"):
        pytest.skip("AUSCULT_SKIP_SLURM is set")
    if os.geteuid() != 0:
        pytest.skip("needs root to install and run slurm-wlm/munge")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.skip("snakemake-executor-plugin-slurm is not installed (pip install "
                    "snakemake-executor-plugin-slurm==2.8.0)")
    if all(shutil.which(t) for t in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    if not shutil.which("apt-get"):
        pytest.skip("slurm-wlm is not installed and apt-get is not available")
    try:
        sh("apt-get", "update", timeout=300)
        sh("apt-get", "install", "-y", "--no-install-recommends", "slurm-wlm", "munge", timeout=900)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        pytest.skip(f"could not install slurm-wlm/munge: {str(e)[-500:]}")


def scratch(repo_root: Path, dest: Path) -> Path:
    copy_workflow(repo_root, dest)
    write_params(dest, small_demo_params(repo_root))
    return dest


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    prerequisites()
    state = tmp_path_factory.mktemp("slurm-state")
    out = sh("bash", str(HERE / "start.sh"), str(state), timeout=180, check=False)
    if out.returncode != 0:
        sh("bash", str(HERE / "stop.sh"), str(state), check=False)
        pytest.fail(f"one-node Slurm did not start:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    yield state
    sh("bash", str(HERE / "stop.sh"), str(state), check=False)


def table_numbers(work: Path, name: str) -> pd.DataFrame:
    df = pd.read_csv(work / "reports" / "tables" / f"{name}.csv")
    return df.set_index(["variant", "protocol", "metric"]).sort_index()[["mean", "std", "ci_low", "ci_high"]]


def test_demo_through_slurm_matches_local_run(cluster, repo_root, tmp_path_factory):
    base = tmp_path_factory.mktemp("slurm-run")
    local, remote = scratch(repo_root, base / "local"), scratch(repo_root, base / "slurm")
    t0 = time.perf_counter()
    loc = sh(str(BIN / "snakemake"), "--cores", "2", *THREADS, "--", "all", cwd=local, timeout=1800)
    local_s = time.perf_counter() - t0
    n_jobs = int(re.findall(r"^total\s+(\d+)", loc.stdout + loc.stderr, re.M)[0])
    t0 = time.perf_counter()
    out = sh(str(BIN / "snakemake"), "--workflow-profile", "profiles/slurm", *THREADS, *POLL, "--", "all",
             cwd=remote, timeout=2400)
    slurm_s = time.perf_counter() - t0
    text = out.stdout + out.stderr
    submitted = re.findall(r"submitted with SLURM jobid (\d+) \(log: (\S+)\)", text)
    rules = sorted({next(p for p in Path(log).parts if p.startswith("rule_")) for _, log in submitted})
    print(f"\n[slurm] local run {local_s:.0f} s; through Slurm {slurm_s:.0f} s, "
          f"{len(submitted)} sbatch jobs, rules {rules}")
    assert len(submitted) == n_jobs - 1, text[-3000:]  # every job but the target rule `all`
    for rule in ("rule_acquire", "rule_features", "rule_audiofuse_train", "rule_audiofuse_evaluate",
                 "rule_tables", "rule_report_html"):
        assert rule in rules, rules
    for _, log in submitted:  # a log per job (profile keeps successful ones)
        assert Path(log).is_file(), log
    # GPU rules got a GPU from Slurm, the rest are CPU jobs (finished jobs stay visible to
    # scontrol for MinJobAge, no accounting needed)
    for jobid, log in submitted:
        info = sh("scontrol", "show", "job", "-o", jobid).stdout
        wants_gpu = any(f"rule_{r}/" in log for r in GPU_RULES)
        assert ("gpu" in info) == wants_gpu, f"{log}: {info}"
        assert "JobState=COMPLETED" in info, info

    differing = []
    for name in TABLES:
        a, b = table_numbers(local, name), table_numbers(remote, name)
        assert a.index.equals(b.index), name
        exact = (a.fillna(-1) == b.fillna(-1)).all(axis=None)
        if not exact:
            differing.append(name)
        pd.testing.assert_frame_equal(a, b, rtol=1e-6, atol=1e-9)
    print(f"[slurm] tables equal to the local run: {'bit-identical' if not differing else differing}")
