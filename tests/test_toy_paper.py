"""A fourth paper registered from tests/ (tests/toy_paper: its module, rule file and params
overlay; its paper values live in the module) builds its table through Snakemake on demo
data, with no edit of shared code: the package and the workflow never name it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from scratch import copy_workflow

BIN = Path(sys.executable).parent
TOY = Path(__file__).resolve().parent / "toy_paper"


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

    assert registry.get("toy").NAME == "toy" and str(TOY / "toy.smk") in registry.rule_files()
    assert registry.external() == [registry.get("toy")]
    assert layout.run_dir(cfg, "toy", "logreg", 42).startswith("runs/toy/logreg/")
    bad = dict(cfg, toy={**cfg["toy"], "variants": {"logreg": {"C": 1.0, "typo": 2}}})
    with pytest.raises(ParamsError, match=r"toy\.variants\.logreg: unknown key\(s\) \['typo'\]"):
        validate(bad)
    with pytest.raises(ParamsError, match="paper_modules: .*no_such_paper"):
        validate(dict(read_yaml(repo_root / "params.yaml"), paper_modules=["no_such_paper"]))


def test_a_paper_module_that_fails_to_import_is_named(repo_root, toy_registered, tmp_path, monkeypatch):
    from auscult.params import ParamsError, read_yaml, validate

    (tmp_path / "broken_paper.py").write_text("NAME = 'broken'\ndef (:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ParamsError, match="paper_modules: paper module 'broken_paper'.*SyntaxError"):
        validate(dict(read_yaml(repo_root / "params.yaml"), paper_modules=["broken_paper"]))


def test_toy_paper_table_through_snakemake(repo_root, tmp_path):
    dest = copy_workflow(repo_root, tmp_path / "wf")
    shutil.copytree(TOY, dest / "toy_paper", ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=os.pathsep.join([str(dest / "src"), str(dest / "toy_paper")]))
    env.pop("AUSCULT_DATA_MIRROR", None)
    proc = subprocess.run([str(BIN / "snakemake"), "--cores", "2", "--configfile", "config/demo.yaml",
                           "toy_paper/overlay.yaml", "--", "reports/tables"], cwd=dest, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    t = pd.read_csv(dest / "reports" / "tables" / "toy_t1.csv")
    auc = t[t["metric"] == "auc"].iloc[0]
    assert auc["n_seeds"] == 2 and auc["budget"] == "demo" and auc["data"] == "synthetic"
    assert auc["mean"] > 0.7, t  # the demo's signal is learnable by a linear model on these statistics
    assert "Toy T1" in (dest / "reports" / "tables" / "toy_t1.md").read_text()
    cost = pd.read_csv(dest / "reports" / "tables" / "compute_cost.csv")
    assert (cost[(cost.scope == "table") & (cost.name == "toy_t1") & (cost.stage == "train")].n_missing == 0).all()
    for f in (dest / "runs" / "toy" / "logreg").rglob("metrics.json"):
        assert '"train_test_overlap": 0' in f.read_text()
