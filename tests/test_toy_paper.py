"""A fourth paper registered from tests/: one folder shaped like a built-in paper's
(tests/toy_paper/toy: hooks, rules.smk, schema.yaml, paper_values.yaml, claims.yaml, dvc.yaml,
its own model, protocol and floor) and a params block (tests/toy_paper/overlay.yaml) build its
table, with the reference floor's row and its checked claims, through Snakemake and through
`dvc repro` on demo data, with no edit of shared code: the package and the workflow never name it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from scratch import copy_workflow, write_params

BIN = Path(sys.executable).parent
TOY = Path(__file__).resolve().parent / "toy_paper"  # on PYTHONPATH: the package `toy` and its overlay


def test_shared_code_never_names_the_toy_paper(repo_root):
    for folder in ("src", "workflow"):
        for path in (repo_root / folder).rglob("*"):
            # Build outputs (the egg-info copies the README, which names tests/toy_paper) are not code.
            generated = any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)
            if path.is_file() and path.suffix in (".py", ".smk", ".yaml", "") and not generated:
                assert "toy" not in path.read_text(errors="ignore").lower(), f"{path} names the toy paper"


@pytest.fixture
def toy_registered(monkeypatch):
    """The toy module importable; the registry as it was afterwards (other tests list it)."""
    from auscult import registry

    monkeypatch.syspath_prepend(str(TOY))
    before = dict(registry.REGISTRY)
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(before)


def test_its_params_block_is_validated_by_its_schema(repo_root, toy_registered):
    from auscult.params import ParamsError, load_params, read_yaml, validate

    cfg = load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml", TOY / "overlay.yaml"])
    assert cfg["papers"] == ["toy"]
    from auscult import layout, registry

    toy = registry.get("toy")
    assert toy.__name__ == "toy" and str(TOY / "toy" / "rules.smk") in registry.rule_files()
    assert registry.external() == [toy]
    assert layout.floor_capable()[-1] == "toy" and layout.floor_papers(cfg) == ["toy"]
    assert layout.floor_dir(cfg, "toy", 42).startswith("runs/toy/floor/")
    # the shared floor rule's code input names the toy's own floor and protocol files
    code = layout.floor_code("toy")
    assert str(TOY / "toy" / "floor.py") in code and str(TOY / "toy" / "train.py") in code
    assert "training/floor" in code and layout.floor_code("audiofuse")[-1] == "papers/audiofuse/train"
    assert str(TOY / "toy" / "claims.yaml") in registry.paper_files("claims.yaml")
    assert str(TOY / "toy" / "paper_values.yaml") in registry.paper_files("paper_values.yaml")
    assert not hasattr(toy, "figure_files") and not hasattr(toy, "CROSS_FAMILY")  # optional hooks
    assert layout.run_dir(cfg, "toy", "mlp", 42).startswith("runs/toy/mlp/")
    bad = dict(cfg, toy={**cfg["toy"], "variants": {"mlp": {"hidden": 4, "typo": 2}}})
    with pytest.raises(ParamsError, match=r"toy\.variants\.mlp: unknown key\(s\) \['typo'\]"):
        validate(bad)
    with pytest.raises(ParamsError, match="paper_modules: .*no_such_paper"):
        validate(dict(read_yaml(repo_root / "params.yaml"), paper_modules=["no_such_paper"]))


def test_a_paper_module_that_fails_to_import_is_named(repo_root, toy_registered, tmp_path, monkeypatch):
    from auscult.params import ParamsError, read_yaml, validate

    (tmp_path / "broken_paper.py").write_text("NAME = 'broken'\ndef (:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ParamsError, match="paper_modules: paper module 'broken_paper'.*SyntaxError"):
        validate(dict(read_yaml(repo_root / "params.yaml"), paper_modules=["broken_paper"]))


def toy_env(dest: Path) -> dict:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", DVC_NO_ANALYTICS="1",
               PYTHONPATH=os.pathsep.join([str(dest / "src"), str(dest / "toy_paper")]),
               GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    env.pop("AUSCULT_DATA_MIRROR", None)
    return env


def scratch_copy(repo_root: Path, dest: Path, extra: tuple[str, ...] = ()) -> Path:
    """The workflow and the toy folder (``toy_paper/``, as a user's own folder beside it)."""
    copy_workflow(repo_root, dest, extra)
    shutil.copytree(TOY, dest / "toy_paper", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def assert_toy_outputs(dest: Path) -> None:
    """Its table with the model's and the floor's rows; its claim judged on its runs."""
    from auscult.reporting.floor import LABEL

    t = pd.read_csv(dest / "reports" / "tables" / "toy_t1.csv")
    assert set(t["variant"]) == {"mlp", "floor"}, t
    auc = t[t["metric"] == "auc"].set_index("variant")
    assert (auc["n_seeds"] == 2).all() and (auc["budget"] == "demo").all() and (auc["data"] == "synthetic").all()
    assert auc.loc["mlp", "mean"] > 0.7, t  # the demo's signal is learnable from these statistics
    assert auc.loc["floor", "row"] == LABEL and pd.isna(auc.loc["floor", "paper"])
    text = (dest / "reports" / "tables" / "toy_t1.md").read_text()
    assert "Toy T1" in text and "reference floor" in text
    cost = pd.read_csv(dest / "reports" / "tables" / "compute_cost.csv")
    assert (cost[(cost.scope == "table") & (cost.name == "toy_t1") & (cost.stage == "train")].n_missing == 0).all()
    for f in (dest / "runs" / "toy").rglob("metrics.json"):  # the model's runs and the floor's
        assert '"train_test_overlap": 0' in f.read_text()
    claims = pd.read_csv(dest / "reports" / "claims.csv")
    toy = claims[claims["paper"] == "toy"]
    assert list(toy["id"]) == ["toy_beats_floor"], claims
    line = toy.iloc[0]
    # its premises (synthetic data allowed, 2 seeds) hold: the paired comparison decides
    assert line["verdict"].split(" at budget")[0] in ("holds", "does not hold", "inconclusive"), line.to_dict()
    assert line["n_comparisons"] == 1 and "mlp − floor" in line["evidence"], line.to_dict()


def test_toy_paper_table_through_snakemake(repo_root, tmp_path):
    dest = scratch_copy(repo_root, tmp_path / "wf")
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "config/demo.yaml",
                           "toy_paper/overlay.yaml", "--", "reports/tables"], cwd=dest, env=toy_env(dest),
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_toy_outputs(dest)


def toy_dvc_yaml(repo_root: Path) -> dict:
    """The shared dvc.yaml's data, features and report stages; the report stage reads the toy's
    outputs (``runs/toy``, written by the stages of the toy folder's own dvc.yaml, which DVC
    collects in place) instead of the built-in papers'."""
    shared = yaml.safe_load((repo_root / "dvc.yaml").read_text())["stages"]
    report = dict(shared["report"])
    report["deps"] = [d for d in report["deps"] if not d.startswith(("runs/", "results/"))] + ["runs/toy"]
    report["params"] = [p for p in report["params"] if p.split(".")[0] in ("budget", "papers", "floor", "datasets",
                                                                           "cross_dataset", "features")] + ["toy"]
    return {"stages": {"data": shared["data"], "features": shared["features"], "report": report}}


def test_toy_paper_table_through_dvc_repro(repo_root, tmp_path, toy_registered):
    from auscult.params import load_params

    dest = scratch_copy(repo_root, tmp_path / "wf", extra=(".gitignore", ".dvcignore"))
    # DVC reads only params.yaml: the demo budget and the toy's block merged into it
    write_params(dest, load_params(repo_root / "params.yaml", [repo_root / "config" / "demo.yaml",
                                                                TOY / "overlay.yaml"]))
    (dest / "dvc.yaml").write_text(yaml.safe_dump(toy_dvc_yaml(repo_root), sort_keys=False))
    env = toy_env(dest)

    def run(*cmd: str) -> str:
        exe = str(BIN / cmd[0]) if (BIN / cmd[0]).exists() else cmd[0]
        proc = subprocess.run([exe, *cmd[1:]], cwd=dest, env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, f"{cmd}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        return proc.stdout

    for cmd in (("git", "init", "-q"), ("dvc", "init", "-q"), ("git", "add", "-A"), ("git", "commit", "-qm", "wf")):
        run(*cmd)
    out = run("dvc", "repro")
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    own = "toy_paper/toy/dvc.yaml:"
    assert {f"{own}toy_train@mlp", f"{own}floor_toy", "report", "features@physionet2016"} <= ran, out[-3000:]
    assert_toy_outputs(dest)
    lock = yaml.safe_load((dest / "toy_paper" / "toy" / "dvc.lock").read_text())["stages"]
    assert lock["toy_train@mlp"]["params"]["params.yaml"]["toy.variants.mlp"] == {}
    assert "Data and pipelines are up to date" in run("dvc", "status")
