"""auscult.dvcexp: the baseline revision from dvc's environment is only ever a revision."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from auscult.dvcexp import restore_rejected_params


@pytest.fixture
def repo(tmp_path, repo_root):
    shutil.copy(repo_root / "params.yaml", tmp_path / "params.yaml")
    git = ["git", "-C", str(tmp_path), "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "params.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "baseline"], check=True)
    params = tmp_path / "params.yaml"
    params.write_text(params.read_text() + "\nnot_a_section: 1\n")  # what `dvc exp run -S` left
    return params


@pytest.mark.parametrize("relative", [True, False])
def test_baseline_rev_restores_the_committed_params(repo, monkeypatch, relative):
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "HEAD")
    monkeypatch.chdir(repo.parent)
    note = restore_rejected_params("params.yaml" if relative else repo)
    assert note and "restored" in note
    assert "not_a_section" not in repo.read_text()
    assert "not_a_section" in repo.with_name("params.yaml.rejected").read_text()


@pytest.mark.parametrize("rev", ["--output={out}", "--output={out} HEAD", "-o{out}"])
def test_an_option_as_baseline_rev_writes_no_file(repo, monkeypatch, tmp_path, rev):
    out = tmp_path / "pwned"
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", rev.format(out=out))
    monkeypatch.chdir(tmp_path)  # as the workflow calls it: restore_rejected_params("params.yaml")
    before = repo.read_text()
    assert restore_rejected_params("params.yaml") is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("pwned")]
    assert repo.read_text() == before
