"""Interruptions and failures, through Snakemake in a scratch copy (tiny demo budget).

- a training job whose whole Snakemake process group is SIGKILLed after its first
  checkpoint resumes from .checkpoints/.../last.pt when re-run (train_summary.json records
  `resumed_from_epoch`, history.csv has every epoch once) and ends where an uninterrupted
  run of the same job ends;
- a failed job leaves no output a later run could take for complete;
- a second Snakemake on the same working directory while one runs stops with Snakemake's
  LockException message and leaves the first run's outputs intact.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from scratch import copy_workflow, small_demo_params, write_params

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("checkpoint_every_epoch")]

BIN = Path(sys.executable).parent
EPOCHS = 6
SMK = ["--cores", "1", "--set-threads", "audiofuse_train=1", "audiofuse_evaluate=1", "--"]


def env() -> dict:
    e = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    e.pop("AUSCULT_DATA_MIRROR", None)
    return e


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-4000:]}")
    return proc


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """Snakemake in its own process group (so the test can kill the whole group)."""
    return subprocess.Popen([str(BIN / "snakemake"), *args], cwd=cwd, env=env(), start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def work(repo_root, tmp_path_factory):
    dest = copy_workflow(repo_root, tmp_path_factory.mktemp("robust"))
    cfg = small_demo_params(repo_root)
    af = cfg["audiofuse"]
    af["tables"] = {"t1_physionet": ["cnn_only"], "t2_pascal": ["cnn_only"], "t3_vit_ablation": ["audiofuse"]}
    af["seeds"] = [42, 43]
    af["training"].update(max_epochs=EPOCHS, patience=EPOCHS)  # no early stop: every epoch runs
    af["head_retrain"]["training"]["max_epochs"] = 2
    af["evaluation"]["bootstrap"]["n_boot"] = 20
    write_params(dest, cfg)
    # the data and feature caches first, so the kill below lands in training
    from auscult import layout

    snakemake(dest, *SMK, layout.features_dir(cfg, "physionet2016", "audiofuse"),
              layout.features_dir(cfg, "pascal", "audiofuse"))
    return dest, cfg


def test_killed_training_resumes_from_checkpoint(work):
    from auscult import layout

    dest, cfg = work
    rel = layout.run_dir(cfg, "audiofuse", "cnn_only", 42)  # targets are relative to the working directory
    run = dest / rel
    proc = start(dest, *SMK, f"{rel}/model.pt")
    ckpt = dest / layout.checkpoint_dir(cfg, "audiofuse", "cnn_only", 42) / "last.pt"
    deadline = time.time() + 600
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists(), f"no checkpoint appeared:\n{proc.stdout.read()[-3000:] if proc.poll() is not None else ''}"
    os.killpg(proc.pid, signal.SIGKILL)  # like a pre-empted node: no clean-up at all
    proc.wait()
    assert not (run / "model.pt").exists() and not (run / "train_summary.json").exists()

    again = snakemake(dest, *SMK, f"{rel}/model.pt", check=False)
    text = again.stdout + again.stderr
    if again.returncode != 0 and "LockException" in text:
        print("\n[robust] after SIGKILL the lock stays: `snakemake --unlock` first")
        snakemake(dest, "--unlock", *SMK, f"{rel}/model.pt")
        again = snakemake(dest, *SMK, f"{rel}/model.pt")
        text = again.stdout + again.stderr
    assert again.returncode == 0, text[-3000:]
    summary = json.loads((run / "train_summary.json").read_text())
    history = pd.read_csv(run / "history.csv")
    print(f"[robust] killed after epoch >= 1; re-run resumed_from_epoch={summary['resumed_from_epoch']}, "
          f"epochs_run={summary['epochs_run']}")
    assert summary["resumed_from_epoch"] is not None and 1 <= summary["resumed_from_epoch"] < EPOCHS
    assert list(history["epoch"]) == list(range(1, EPOCHS + 1))

    # the same job uninterrupted, in a copy, ends with the same history (CPU is deterministic)
    clean = dest.parent / "uninterrupted"
    if clean.exists():
        shutil.rmtree(clean)
    shutil.copytree(dest, clean, ignore=shutil.ignore_patterns("runs", ".snakemake", ".checkpoints"))
    snakemake(clean, *SMK, f"{layout.run_dir(cfg, 'audiofuse', 'cnn_only', 42)}/model.pt")
    ref = pd.read_csv(clean / layout.run_dir(cfg, "audiofuse", "cnn_only", 42) / "history.csv")
    cols = ["train_loss", "val_loss", "val_auc", "lr"]
    pd.testing.assert_frame_equal(history[cols], ref[cols], rtol=1e-6)


def test_failed_job_leaves_nothing_trusted(work):
    from auscult import layout

    dest, cfg = work
    rel = layout.run_dir(cfg, "audiofuse", "cnn_only", 42)  # targets are relative to the working directory
    run = dest / rel
    snakemake(dest, *SMK, f"{rel}/model.pt")
    res_rel = layout.result_dir(cfg, "audiofuse", "cnn_only", 42)
    res = dest / res_rel
    snakemake(dest, *SMK, f"{res_rel}/metrics.json")  # good results of the good model
    model = run / "model.pt"
    good = model.read_bytes()
    stat = model.stat()
    try:
        model.write_bytes(b"not a checkpoint")  # a bad file: the re-run evaluation job fails
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        out = snakemake(dest, "-R", "audiofuse_evaluate", *SMK, f"{res_rel}/metrics.json", check=False)
        assert out.returncode != 0
        assert "Error in rule audiofuse_evaluate" in out.stdout + out.stderr
        # the earlier outputs are gone, not left to pass for results of the current input
        assert not (res / "metrics.json").exists() and not (res / "predictions.csv").exists()
    finally:
        model.write_bytes(good)
        os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    dry = snakemake(dest, "-n", *SMK, f"{res_rel}/metrics.json")
    assert "audiofuse_evaluate" in dry.stdout, "the failed job is not scheduled again"
    snakemake(dest, *SMK, f"{res_rel}/metrics.json")
    assert "auc" in json.loads((res / "metrics.json").read_text())["physionet_test"]


def test_second_run_at_once_gets_lock_exception(work):
    from auscult import layout

    dest, cfg = work
    target = f"{layout.run_dir(cfg, 'audiofuse', 'cnn_only', 43)}/model.pt"
    job_log = dest / f"runs/audiofuse/cnn_only/logs/{layout.train_digest(cfg, 'audiofuse', 'cnn_only')}-seed43.log"
    # Earlier tests may have built this target: remove it (and its log, which signals that
    # the first run is training). The first run builds everything downstream too (`all`), so
    # it still holds its lock when the second one, slower to start, asks for the checkpoint.
    shutil.rmtree(dest / layout.run_dir(cfg, "audiofuse", "cnn_only", 43), ignore_errors=True)
    shutil.rmtree(dest / layout.result_dir(cfg, "audiofuse", "cnn_only", 43), ignore_errors=True)
    job_log.unlink(missing_ok=True)
    first = start(dest, *SMK, "all")
    deadline = time.time() + 300
    while not job_log.exists() and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert first.poll() is None and job_log.exists(), "the first run is not training"
    # The same target as the first run: its report jobs are still to come, so the second
    # run needs outputs the first has locked (a finished checkpoint alone needs no lock).
    second = snakemake(dest, *SMK, "all", check=False)
    first_out = first.communicate(timeout=900)[0]
    text = second.stdout + second.stderr
    print(f"\n[robust] second run: rc={second.returncode}; "
          f"{next((ln for ln in text.splitlines() if 'cannot be locked' in ln), text[-300:])}")
    assert second.returncode != 0
    assert "LockException" in text and "Directory cannot be locked" in text, text[-2000:]
    assert first.returncode == 0, first_out[-3000:]
    summary = json.loads((dest / target).with_name("train_summary.json").read_text())
    assert summary["epochs_run"] == EPOCHS
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(dest, "-n", *SMK, target))
