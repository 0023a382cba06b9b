"""run_job: the one body of the three *_train.py scripts."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from auscult.training import jobs


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _smk(tmp_path, **wildcards):
    return SimpleNamespace(
        input=SimpleNamespace(features="data/features/x"),
        output=SimpleNamespace(model=str(tmp_path / "run" / "model.pt")),
        params=SimpleNamespace(train={"training": {}}, checkpoint_dir=str(tmp_path / "ckpt")),
        wildcards=SimpleNamespace(seed="42", **wildcards),
        threads=2,
        log=[str(tmp_path / "job.log")],
    )


@pytest.mark.parametrize("paper,summary", [
    ("audiofuse", {"best_epoch": 3}),
    ("koike", {"best_epoch": 2, "weights": "scratch"}),
    ("ast_sam", {"selection": {"clean": {"epoch": 1}, "paper": None}, "weights": None}),
])
def test_run_job_calls_the_papers_runner(paper, summary, tmp_path, monkeypatch):
    calls = []

    def fake(**kw):
        calls.append(kw)
        return summary

    monkeypatch.setattr(jobs, "_runner", lambda p: fake if p == paper else None)
    got = jobs.run_job(_smk(tmp_path, variant="v1"), paper)
    assert got == summary
    assert calls == [{"features_dir": "data/features/x", "train_params": {"training": {}},
                      "out_dir": tmp_path / "run", "seed": 42, "threads": 2,
                      "checkpoint_dir": str(tmp_path / "ckpt"), "variant": "v1"}]
    assert "trained v1 seed 42" in (tmp_path / "job.log").read_text()


def test_runners_are_the_papers_run_training():
    from auscult.training import ast_sam, audiofuse, koike

    assert jobs._runner("audiofuse") is audiofuse.run_training
    assert jobs._runner("koike") is koike.run_training
    assert jobs._runner("ast_sam") is ast_sam.run_training
    with pytest.raises(ValueError, match="unknown paper"):
        jobs._runner("p4")
