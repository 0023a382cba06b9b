"""A broken mirror through Snakemake, as a user meets it: the first run names the file in one
line (no traceback on the console), the fix reaches the pipeline on a plain re-run (new
dataset digest: manifest and features rebuilt, nothing stale), and ``bad_audio: skip`` drops
and lists the record instead. Scratch copy of the workflow; synthetic recordings in the
PhysioNet layout stand in for the canonical ones (their pins via AUSCULT_PINS_DIR)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from scratch import copy_workflow, small_demo_params, write_params

from auscult.atomic import tmp_prefix
from auscult.datasets import pinned, pinning, synthetic
from auscult.datasets.acquire import write_sha256sums

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


@pytest.fixture
def setup(repo_root, tmp_path):
    dest = copy_workflow(repo_root, tmp_path / "wf")
    cfg = small_demo_params(repo_root)
    cfg["datasets"]["physionet2016"] = {"source": "canonical", "bad_audio": "error", "min_seconds": 1.0}
    cfg["papers"] = ["koike"]
    write_params(dest, cfg)
    mirror = tmp_path / "mirror"
    root = mirror / "physionet2016"
    synthetic.write_physionet2016(root, n_records=24, n_test=6, seed=11, duration_s=(2.0, 3.0))
    pinned.write_pins("physionet2016", pinning.compute_pins("physionet2016", root), tmp_path / "pins")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", AUSCULT_DATA_MIRROR=str(mirror),
               AUSCULT_PINS_DIR=str(tmp_path / "pins"), PYTHONPATH=str(dest / "src"))
    return dest, cfg, root, env


def run(dest, env, *targets):
    return subprocess.run([str(BIN / "snakemake"), "--cores", "1", "--", *targets], cwd=dest, env=env,
                          capture_output=True, text=True, timeout=900)


def layout_paths(dest, cfg, env):
    """Manifest and Koike feature folder under the mirror's current content."""
    code = ("import json, sys, yaml; from auscult import layout; cfg = yaml.safe_load(open('params.yaml'));"
            "print(json.dumps([layout.manifest_path(cfg, 'physionet2016'), layout.paper_features_dir(cfg, 'koike')]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=dest, env=env, capture_output=True, text=True, check=True)
    import json

    return [dest / p for p in json.loads(out.stdout)]


def break_record(root: Path, rec: str) -> Path:
    (root / "training-a" / f"{rec}.flac").unlink()
    bad = root / "training-a" / f"{rec}.wav"
    x = np.full(5000, 0.1, dtype=np.float32)
    x[1234] = np.nan
    sf.write(str(bad), x, 2000, subtype="FLOAT")
    write_sha256sums(root)  # the mirror's own checksums are consistent: only the content is bad
    return bad


def test_broken_mirror_fix_then_plain_rerun(setup):
    dest, cfg, root, env = setup
    target = "features_physionet2016"
    bad = break_record(root, "a0004")
    first = run(dest, env, target)
    console = first.stdout + first.stderr
    assert first.returncode != 0
    assert "Traceback" not in console, console[-3000:]
    errors = [ln for ln in console.splitlines() if ln.startswith("ERROR ")]
    assert errors == [f"ERROR {bad}: 1 NaN/Inf sample(s) (label row {root}/training-a/REFERENCE.csv:4)"], errors
    manifest0, _ = layout_paths(dest, cfg, env)
    log = manifest0.parent / "logs" / manifest0.name.replace(".csv", ".log")
    assert "Traceback" in log.read_text(), "the full traceback is in the job's log"

    # the fix: delete the file and its REFERENCE.csv row (and refresh the mirror's SHA256SUMS)
    bad.unlink()
    ref = root / "training-a" / "REFERENCE.csv"
    ref.write_text("".join(f"{ln}\n" for ln in ref.read_text().splitlines() if not ln.startswith("a0004,")))
    write_sha256sums(root)
    second = run(dest, env, target)
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    manifest, features = layout_paths(dest, cfg, env)
    assert manifest != manifest0, "the fixed mirror has a new dataset digest"
    df = pd.read_csv(manifest, dtype=str)
    assert "a0004" not in set(df.record_id) and len(df) == 23
    index = pd.read_csv(features / "index.csv", dtype=str)
    assert "a0004" not in set(index.record_id) and len(index) == 23
    skipped = pd.read_csv(manifest.with_name(manifest.name.replace(".csv", ".skipped.csv")), dtype=str)
    assert skipped[["record_id", "kind"]].values.tolist() == [["a0004", "absent"]]
    assert not [p for p in (dest / "data").rglob(".tmp-*")], "no leftovers"

    # a further plain run has nothing to do; a changed file gives a new digest again
    third = run(dest, env, target)
    assert third.returncode == 0 and "Nothing to be done" in third.stdout + third.stderr


def test_three_broken_recordings_one_run_names_all_then_a_plain_rerun(setup):
    """Every problem at once: the first run's console lists the three files (one ERROR line each,
    with the count), so removing them is one fix; the next plain run succeeds."""
    dest, cfg, root, env = setup
    bad = [break_record(root, rec) for rec in ("a0002", "a0004", "a0007")]
    first = run(dest, env, str(layout_paths(dest, cfg, env)[0].relative_to(dest)))
    console = first.stdout + first.stderr
    assert first.returncode != 0 and "Traceback" not in console, console[-3000:]
    errors = [ln for ln in console.splitlines() if ln.startswith("ERROR ")]
    assert len(errors) == 3, errors
    for line, path in zip(errors, bad, strict=True):
        assert line.startswith(f"ERROR 3 problems in dataset physionet2016: {path}: 1 NaN/Inf sample(s)"), line
    ref = root / "training-a" / "REFERENCE.csv"
    for path in bad:
        path.unlink()
    ref.write_text("".join(f"{ln}\n" for ln in ref.read_text().splitlines()
                           if ln.split(",")[0] not in {p.stem for p in bad}))
    write_sha256sums(root)
    manifest, _ = layout_paths(dest, cfg, env)
    second = run(dest, env, str(manifest.relative_to(dest)))
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    assert len(pd.read_csv(manifest, dtype=str)) == 21


def test_skip_policy_through_the_workflow(setup):
    dest, cfg, root, env = setup
    cfg["datasets"]["physionet2016"]["bad_audio"] = "skip"
    write_params(dest, cfg)
    zero = root / "training-b" / "b0002.flac"
    sf.write(str(zero), np.zeros(5000, dtype=np.int16), 2000, subtype="PCM_16")
    write_sha256sums(root)
    # a stale temporary folder of a killed features job (dead pid) is removed at job start
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    _, features = layout_paths(dest, cfg, env)
    stale = features.parent / f"{tmp_prefix(features, int(dead))}killed"
    (stale / "shards").mkdir(parents=True)
    out = run(dest, env, "features_physionet2016")
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    assert "skipped" in out.stderr and "b0002" in out.stderr
    manifest, features = layout_paths(dest, cfg, env)
    from auscult.datasets.checks import skipped_records

    got = skipped_records(manifest)
    assert got.record_id.tolist() == ["b0002"] and got.kind.tolist() == ["bad_audio"]
    assert "all samples are zero" in got.problem.iloc[0]
    assert "b0002" not in set(pd.read_csv(features / "index.csv", dtype=str).record_id)
    assert not stale.exists()


def test_dvc_exp_run_with_a_bad_value_leaves_no_trace(repo_root, tmp_path):
    """`dvc exp run -S koike.max_train_records=ten`: a one-line params error, params.yaml back
    to its committed version, no tracked file deleted or modified."""
    dest = copy_workflow(repo_root, tmp_path / "repo", extra=("dvc.yaml", ".gitignore", ".dvcignore"))
    write_params(dest, small_demo_params(dest))
    logs = dest / "reports" / "logs"
    logs.mkdir(parents=True)
    (logs / "tables.log").write_text("a log a stage rewrites: ignored by git\n")
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1",
               PYTHONPATH=str(dest / "src"), GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("AUSCULT_DATA_MIRROR", None)

    def sh(*cmd, check=True):
        return subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, check=check, timeout=600)

    sh("git", "init", "-q")
    sh(str(BIN / "dvc"), "init", "-q")
    sh("git", "add", "-A")
    sh("git", "commit", "-qm", "init")
    assert "reports/logs/tables.log" not in sh("git", "ls-files").stdout
    out = sh(str(BIN / "dvc"), "exp", "run", "-S", "koike.max_train_records=ten", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "ERROR invalid parameters: koike.max_train_records: 'ten'" in text, text[-2000:]
    assert "Traceback" not in text
    assert sh("git", "status", "--porcelain").stdout == "", "the workspace is as it was"
    assert "ten" in (dest / "params.yaml.rejected").read_text()


def test_params_are_restored_only_inside_dvc_exp(tmp_path, monkeypatch):
    import yaml

    from auscult.dvcexp import restore_rejected_params

    repo = Path(__file__).parents[1]
    params = tmp_path / "params.yaml"
    params.write_text((repo / "params.yaml").read_text())
    for cmd in (["git", "init", "-q"], ["git", "add", "params.yaml"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "p"]):
        subprocess.run(cmd, cwd=tmp_path, check=True)
    cfg = yaml.safe_load(params.read_text())
    cfg["koike"]["max_train_records"] = "ten"
    params.write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    for k in ("DVC_EXP_BASELINE_REV", "DVC_EXP_NAME"):
        monkeypatch.delenv(k, raising=False)
    assert restore_rejected_params("params.yaml") is None  # plain snakemake / dvc repro: untouched
    assert "ten" in params.read_text()
    monkeypatch.setenv("DVC_EXP_NAME", "exp-1")
    assert "restored" in restore_rejected_params("params.yaml")
    assert params.read_text() == (repo / "params.yaml").read_text()
    assert "ten" in (tmp_path / "params.yaml.rejected").read_text()


def test_parameter_errors_one_line_each_no_traceback(repo_root, tmp_path):
    dest = copy_workflow(repo_root, tmp_path / "wf")
    cfg = small_demo_params(repo_root)
    write_params(dest, cfg)
    import yaml

    cfg["koike"]["max_train_records"] = "ten"
    cfg["datasets"]["pascal"]["bad_audio"] = "ignore"
    (dest / "params.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(dest / "src"))
    out = subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "1"], cwd=dest, env=env,
                         capture_output=True, text=True, timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "Traceback" not in text
    errors = [ln for ln in text.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 2, text
    assert any("datasets.pascal.bad_audio" in ln for ln in errors)
    assert any("koike.max_train_records" in ln for ln in errors)


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _job_pid(name: str, workdir: Path) -> int | None:
    # Only a job of this test's workflow (its script lives in workdir/.snakemake/scripts):
    # other tests may run Snakemake at the same time (make test runs 2 workers).
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if name in cmd and "python" in cmd and str(workdir) in cmd:
                return int(d.name)
    return None


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigkilled_features_job_leaves_nothing(repo_root, tmp_path):
    """SIGKILL of the features job itself (not its process group): its pool workers exit,
    and the next run removes the half-written .tmp-* folder and completes."""
    import signal
    import time

    from auscult.atomic import _alive

    dest = copy_workflow(repo_root, tmp_path / "wf")
    cfg = small_demo_params(repo_root)
    cfg["papers"] = ["koike"]
    cfg["datasets"]["physionet2016"]["synthetic"].update(n_records=160, n_test=20)
    write_params(dest, cfg)
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(dest / "src"))
    env.pop("AUSCULT_DATA_MIRROR", None)
    assert run(dest, env, "data_physionet2016").returncode == 0
    proc = subprocess.Popen([str(BIN / "snakemake"), "--cores", "2", "--", "features_physionet2016"], cwd=dest,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    feats = dest / "data" / "features" / "physionet2016"
    job, workers, deadline = None, [], time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            job = job or _job_pid("features.py", dest)
            if job and list(feats.glob(".tmp-*")):
                workers = _children(job)
                if len(workers) >= 2:
                    break
            time.sleep(0.05)
        assert job and len(workers) >= 2, "did not catch the features job with its workers"
        os.kill(job, signal.SIGKILL)
        end = time.time() + 15
        while time.time() < end and any(_alive(w) for w in workers):
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers), "orphaned pool workers"
        assert list(feats.glob(".tmp-*")), "the kill left its temporary folder (removed by the next run)"
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        for w in workers:  # never leave orphans behind, even when the test fails
            if _alive(w):
                os.kill(w, signal.SIGKILL)
    again = run(dest, env, "features_physionet2016")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert not list(feats.glob(".tmp-*"))
