"""DVC as the ledger, shown end to end on a tiny demo budget with a local-folder remote.

An "author" repository runs `dvc repro` from scratch and pushes data, artifacts and the
run-cache to a remote that is just a folder. Then, in fresh `git clone`s:

- `dvc pull` + `dvc repro` does nothing (no stage runs, dvc.lock unchanged);
- `dvc exp run -S` on ONE variant's parameter re-runs exactly that variant's training and
  evaluation stages (2 training jobs = 2 seeds) and the report, and records the new
  artifacts (new digest paths, different weights) -- never the old ones under new params.
  There is no per-variant learning rate: a variant's own parameters are its model
  overrides, so the one-variant change is `audiofuse.variants.cnn_only.head.dropout`
  (the variant overrides deep-merge into `audiofuse.model`);
- setting it back retrains nothing: both stages are restored from DVC's run-cache (the
  training stage versions only final artifacts; resumable checkpoints live in
  .checkpoints/, outside every DVC output);
- the shared `audiofuse.training.lr` re-runs every training stage;
- a reviewer without a GPU gets the tables back from `dvc pull` + `snakemake reports/tables`
  without any training or evaluation job (wall times printed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scratch import copy_workflow, small_demo_params, write_params

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
# Bytecode written next to the sources must not enter the hashes of the src/ folders that
# stages depend on: a fresh clone has none, so every stage would look changed there.
BYTECODE_IGNORES = ["__pycache__/", "*.pyc", "*.egg-info/"]
ONE_VARIANT = "audiofuse.variants.cnn_only.head.dropout"


def env() -> dict:
    e = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1",
             GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
             GIT_COMMITTER_EMAIL="t@t")
    e.pop("AUSCULT_DATA_MIRROR", None)
    return e


def run(cwd: Path, *cmd: str, check: bool = True, timeout: int = 1800) -> subprocess.CompletedProcess:
    exe = str(BIN / cmd[0]) if (BIN / cmd[0]).exists() else cmd[0]
    proc = subprocess.run([exe, *cmd[1:]], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-4000:]}")
    return proc


def make_repo(repo_root: Path, dest: Path) -> Path:
    copy_workflow(repo_root, dest, extra=("dvc.yaml", ".gitignore", ".dvcignore"))
    write_params(dest, small_demo_params(dest))
    return dest


def stages_run(text: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", text)


def job_counts(text: str) -> dict[str, int]:
    """Snakemake's job-stats tables ('rule  count' lines), summed over stages."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and re.fullmatch(r"[a-z_0-9]+", parts[0]):
            if parts[0] != "total":
                out[parts[0]] = out.get(parts[0], 0) + int(parts[1])
    return out


def config_of(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())


def digests(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if re.fullmatch(r"[0-9a-f]{8}", p.name)} if folder.is_dir() else set()


def t1(repo: Path) -> pd.DataFrame:
    df = pd.read_csv(repo / "reports" / "tables" / "audiofuse_t1_physionet.csv")
    return df.set_index(["variant", "protocol", "metric"]).sort_index()


@pytest.fixture(scope="module")
def origin(repo_root, tmp_path_factory):
    """The author: `dvc repro` from scratch, commit, push data + run-cache to a folder remote."""
    base = tmp_path_factory.mktemp("ledger")
    repo = make_repo(repo_root, base / "origin")
    run(repo, "git", "init", "-q")
    run(repo, "dvc", "init", "-q")
    run(repo, "dvc", "remote", "add", "-d", "store", str(base / "remote"))
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "workflow")
    t0 = time.perf_counter()
    out = run(repo, "dvc", "repro")
    print(f"\n[ledger] dvc repro from scratch: {time.perf_counter() - t0:.1f} s, stages "
          f"{stages_run(out.stdout)}")
    # 4 datasets (data@ + features@ each; the demo folder dataset too), 2 AudioFuse variants
    # (train + eval), 1 Koike model, 1 AST variant (train + eval), the two reference-floor
    # stages, cross_dataset, report
    assert len(stages_run(out.stdout)) == 19, out.stdout[-3000:]
    assert "Data and pipelines are up to date" in run(repo, "dvc", "status").stdout
    run(repo, "git", "add", "-A")
    run(repo, "git", "commit", "-qm", "results")
    run(repo, "dvc", "push", "--run-cache")
    return repo


def clone(origin: Path, dest: Path, run_cache: bool = True) -> tuple[Path, float]:
    run(dest.parent, "git", "clone", "-q", str(origin), str(dest))
    t0 = time.perf_counter()
    run(dest, "dvc", "pull", *(["--run-cache"] if run_cache else []))
    return dest, time.perf_counter() - t0


@pytest.fixture(scope="module")
def reviewer(origin, tmp_path_factory):
    repo, _ = clone(origin, tmp_path_factory.mktemp("clone") / "repo")
    return repo


def test_dvcignore_excludes_bytecode(repo_root):
    lines = (repo_root / ".dvcignore").read_text().split()
    missing = [p for p in BYTECODE_IGNORES[:2] if p not in lines]
    # Without them, stages depending on src/ folders record __pycache__ in dvc.lock, so a
    # fresh clone sees them all changed and `dvc repro` re-runs them.
    assert not missing, f".dvcignore lacks {missing}"


def test_fresh_clone_repro_does_nothing(reviewer):
    assert "Data and pipelines are up to date" in run(reviewer, "dvc", "status").stdout
    out = run(reviewer, "dvc", "repro")
    assert stages_run(out.stdout) == [], out.stdout[-3000:]
    assert run(reviewer, "git", "status", "--porcelain").stdout.strip() == ""


def test_one_variant_change_reruns_only_that_variant(reviewer):
    before = t1(reviewer)
    old_cfg = config_of(reviewer)
    old_run = digests(reviewer / "runs/audiofuse/cnn_only")
    old_res = digests(reviewer / "results/audiofuse/cnn_only")
    (old_dig,) = old_run
    old_models = {seed: (reviewer / f"runs/audiofuse/cnn_only/{old_dig}/seed{seed}/model.pt").read_bytes()
                  for seed in (42, 43)}
    # `+`: the key is new in the variant's overrides (Hydra syntax of `dvc exp run -S`)
    out = run(reviewer, "dvc", "exp", "run", "-S", f"+{ONE_VARIANT}=0.3")
    text = out.stdout + out.stderr
    ran = stages_run(text)
    print(f"\n[ledger] -S +{ONE_VARIANT}=0.3 ran stages {ran}, jobs {job_counts(text)}")
    # the cross-dataset stage re-scores the changed runs (its job covers every AudioFuse run)
    assert sorted(ran) == sorted(["audiofuse_train@cnn_only", "audiofuse_evaluate@cnn_only", "cross_dataset",
                                  "report"]), text[-3000:]
    jobs = job_counts(text)
    assert jobs.get("audiofuse_train") == 2 and jobs.get("audiofuse_evaluate") == 2, jobs
    assert not {"acquire", "manifest", "features"} & set(jobs), jobs
    assert "variant=audiofuse" not in text

    from auscult import layout

    new_cfg = config_of(reviewer)
    assert new_cfg["audiofuse"]["variants"]["cnn_only"]["head"] == {"dropout": 0.3}
    new_run = Path(layout.run_dir(new_cfg, "audiofuse", "cnn_only", 42)).parent.name
    new_res = Path(layout.result_dir(new_cfg, "audiofuse", "cnn_only", 42)).parent.name
    assert new_run not in old_run and new_res not in old_res
    # each stage's output holds exactly the new digest folder: nothing old is recorded
    # under the new parameters
    assert digests(reviewer / "runs/audiofuse/cnn_only") == {new_run}
    assert digests(reviewer / "results/audiofuse/cnn_only") == {new_res}
    assert not (reviewer / ".checkpoints").exists() or not any((reviewer / ".checkpoints").rglob("last.pt"))
    for seed in (42, 43):
        new_m = reviewer / f"runs/audiofuse/cnn_only/{new_run}/seed{seed}/model.pt"
        assert new_m.read_bytes() != old_models[seed], "new run has the old weights"
        summary = json.loads(new_m.with_name("train_summary.json").read_text())
        assert summary["resumed_from_epoch"] is None
    lock = yaml.safe_load((reviewer / "dvc.lock").read_text())
    assert lock["stages"]["audiofuse_train@cnn_only"]["params"]["params.yaml"][
        "audiofuse.variants.cnn_only"]["head"] == {"dropout": 0.3}
    after = t1(reviewer)
    changed = {v for v in before.index.get_level_values(0).unique()
               if not after.loc[v, "mean"].equals(before.loc[v, "mean"])}
    print(f"[ledger] T1 variants whose means changed: {sorted(changed)}")
    assert changed == {"cnn_only"}, changed
    assert old_cfg != new_cfg


def test_setting_back_retrains_nothing(reviewer, origin):
    """Back to the base value: parameters, code and data equal the author's run, so both of
    cnn_only's stages are restored from DVC's run-cache and no job runs; the outputs are the
    very artifacts the author recorded. Going forward again (0.3) is restored the same way."""
    exp_t1 = t1(reviewer)
    out = run(reviewer, "dvc", "exp", "run", "-S", f"~{ONE_VARIANT.rsplit('.', 1)[0]}")
    text = out.stdout + out.stderr
    jobs = job_counts(text)
    print(f"\n[ledger] set back: ran stages {stages_run(text)}, jobs {jobs}")
    assert "audiofuse_train" not in jobs and "audiofuse_evaluate" not in jobs, jobs
    for stage in ("audiofuse_train@cnn_only", "audiofuse_evaluate@cnn_only"):
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in text, text[-3000:]
    assert config_of(reviewer) == config_of(origin)
    pd.testing.assert_series_equal(t1(reviewer)["mean"], t1(origin)["mean"])
    lock, olock = (yaml.safe_load((r / "dvc.lock").read_text())["stages"] for r in (reviewer, origin))
    for stage in ("audiofuse_train@cnn_only", "audiofuse_evaluate@cnn_only", "audiofuse_train@audiofuse",
                  "audiofuse_evaluate@audiofuse"):
        assert lock[stage]["outs"] == olock[stage]["outs"], stage

    out = run(reviewer, "dvc", "exp", "run", "-S", f"+{ONE_VARIANT}=0.3")
    text = out.stdout + out.stderr
    jobs = job_counts(text)
    print(f"[ledger] forward again: ran stages {stages_run(text)}, jobs {jobs}")
    assert "Stage 'audiofuse_evaluate@cnn_only' is cached - skipping run, checking out outputs" in text
    assert "audiofuse_train" not in jobs and "audiofuse_evaluate" not in jobs, jobs
    pd.testing.assert_series_equal(t1(reviewer)["mean"], exp_t1["mean"])


def test_shared_lr_reruns_every_training_stage(reviewer):
    # a value the demo budget does not already use (it trains at 5e-4)
    out = run(reviewer, "dvc", "exp", "run", "-S", "audiofuse.training.lr=7e-4")
    text = out.stdout + out.stderr
    ran, jobs = stages_run(text), job_counts(text)
    print(f"\n[ledger] -S audiofuse.training.lr=7e-4 ran stages {ran}, jobs {jobs}")
    assert sorted(ran) == sorted(["audiofuse_train@cnn_only", "audiofuse_train@audiofuse",
                                  "audiofuse_evaluate@cnn_only", "audiofuse_evaluate@audiofuse", "cross_dataset",
                                  "report"])
    assert jobs.get("audiofuse_train") == 4 and jobs.get("audiofuse_evaluate") == 4, jobs
    assert not {"acquire", "manifest", "features"} & set(jobs), jobs


def test_one_models_learning_rate_reruns_only_that_model(reviewer):
    """Koike: `koike.models.<m>.training` overrides the shared training settings for one
    model, so its learning rate is that model's own parameter (DVC stage koike_train@<m>)."""
    # `++`: add or override (the demo budget already gives MobileNetV2 its own lr, 3e-3)
    out = run(reviewer, "dvc", "exp", "run", "-S", "++koike.models.mobilenet_v2.training.lr=3e-4")
    text = out.stdout + out.stderr
    ran, jobs = stages_run(text), job_counts(text)
    print(f"\n[ledger] -S ++koike.models.mobilenet_v2.training.lr=3e-4 ran stages {ran}, jobs {jobs}")
    assert sorted(ran) == ["cross_dataset", "koike_train@mobilenet_v2", "report"], text[-3000:]
    assert jobs.get("koike_run_mobilenet_v2") == 1, jobs
    assert set(jobs) <= {"koike_run_mobilenet_v2", "koike_train_mobilenet_v2", "tables", "figures", "report_html",
                         "report", "cross_dataset_score", "cross_dataset"}, jobs


@pytest.fixture(scope="module")
def pulled(origin, tmp_path_factory):
    """A reviewer's clone without a GPU: dvc pull, then `snakemake reports/tables`."""
    repo, pull_s = clone(origin, tmp_path_factory.mktemp("reviewer") / "repo", run_cache=False)
    t0 = time.perf_counter()
    out = run(repo, "snakemake", "--cores", "2", "reports/tables")
    smk_s = time.perf_counter() - t0
    text = out.stdout + out.stderr
    jobs = sorted(set(re.findall(r"^(?:local)?rule (\w+):", text, re.M)))
    print(f"\n[ledger] reviewer: dvc pull {pull_s:.1f} s; snakemake reports/tables {smk_s:.1f} s; "
          f"jobs run: {jobs or 'none'}")
    return repo, jobs


def test_reviewer_gets_tables_without_training(pulled):
    repo, jobs = pulled
    assert not {"audiofuse_train", "audiofuse_evaluate", "features", "acquire", "floor_audiofuse_run",
                "floor_koike_run"} & set(jobs), jobs
    for name in ("audiofuse_t1_physionet", "audiofuse_t2_pascal", "audiofuse_t3_vit_ablation"):
        assert (repo / "reports" / "tables" / f"{name}.csv").is_file()


def test_reviewer_snakemake_keeps_the_data_ledger_clean(pulled):
    repo, jobs = pulled
    # A re-run manifest (and its logs) would make data@*/features@* look changed to DVC.
    assert "manifest" not in jobs, jobs
    status = run(repo, "dvc", "status").stdout
    for stage in ("data@", "features@", "audiofuse_train@", "audiofuse_evaluate@"):
        assert stage not in status, status


def test_reviewer_dvc_repro_after_pull(origin, tmp_path_factory):
    repo, pull_s = clone(origin, tmp_path_factory.mktemp("reviewer2") / "repo", run_cache=False)
    t0 = time.perf_counter()
    out = run(repo, "dvc", "repro")
    print(f"\n[ledger] reviewer: dvc pull {pull_s:.1f} s; dvc repro {time.perf_counter() - t0:.1f} s")
    assert stages_run(out.stdout) == []
