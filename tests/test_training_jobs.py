"""run_job / run_jobs: the bodies of the *_train.py scripts."""

from __future__ import annotations

import logging
from pathlib import Path
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
                      "checkpoint_dir": str(tmp_path / "ckpt"), "variant": "v1", "card_context": None}]
    assert "trained v1 seed 42" in (tmp_path / "job.log").read_text()


def test_a_koike_job_trains_each_input_of_its_model_into_its_own_run(tmp_path, monkeypatch):
    calls = []

    def fake(**kw):
        calls.append(kw)
        return {"best_epoch": len(calls), "weights": "scratch"}

    monkeypatch.setattr(jobs, "_runner", lambda p: fake if p == "koike" else None)
    smk = SimpleNamespace(
        input=SimpleNamespace(features="data/features/k"),
        params=SimpleNamespace(runs={
            "vgg16_logmel": {"train": {"lr": 1}, "run_dir": "runs/a/seed42", "checkpoint_dir": "ck/a"},
            "vgg16_linear": {"train": {"lr": 2}, "run_dir": "runs/b/seed42", "checkpoint_dir": "ck/b"}}),
        wildcards=SimpleNamespace(seed="42"), threads=1, log=[str(tmp_path / "job.log")])
    got = jobs.run_jobs(smk, "koike")
    assert list(got) == ["vgg16_logmel", "vgg16_linear"]
    assert calls == [
        {"features_dir": "data/features/k", "train_params": {"lr": 1}, "out_dir": Path("runs/a/seed42"),
         "seed": 42, "threads": 1, "checkpoint_dir": "ck/a", "variant": "vgg16_logmel", "card_context": None},
        {"features_dir": "data/features/k", "train_params": {"lr": 2}, "out_dir": Path("runs/b/seed42"),
         "seed": 42, "threads": 1, "checkpoint_dir": "ck/b", "variant": "vgg16_linear", "card_context": None},
    ]
    text = (tmp_path / "job.log").read_text()
    assert "trained vgg16_logmel seed 42: best epoch 1" in text and "trained vgg16_linear seed 42: best epoch 2" in text


def test_a_job_hands_its_card_the_budget_and_data_source(tmp_path, monkeypatch, demo):
    """The workflow configuration (Snakemake's ``config``) reaches the model card: the demo
    budget, PhysioNet 2016 marked synthetic with its generator's parameters."""
    calls = []
    monkeypatch.setattr(jobs, "_runner", lambda p: lambda **kw: calls.append(kw) or {"best_epoch": 1})
    smk = _smk(tmp_path, variant="cnn_only")
    smk.config = demo
    jobs.run_job(smk, "audiofuse")
    ctx = calls[0]["card_context"]
    assert ctx["budget"] == "demo" and ctx["dataset"] == "physionet2016" and ctx["source"] == "synthetic"
    assert ctx["generator"]["n_records"] == demo["datasets"]["physionet2016"]["synthetic"]["n_records"]
    assert ctx["max_epochs"] == 16 and ctx["seeds"] == [42, 43]
    smk.config = {"budget": "demo"}  # a configuration without the paper: no context, a warning
    jobs.run_job(smk, "audiofuse")
    assert calls[1]["card_context"] is None
    assert "no release context" in (tmp_path / "job.log").read_text()


def test_runners_are_the_papers_run_training():
    from auscult.papers.ast_sam import train as ast_sam
    from auscult.papers.audiofuse import train as audiofuse
    from auscult.papers.koike import train as koike

    assert jobs._runner("audiofuse") is audiofuse.run_training
    assert jobs._runner("koike") is koike.run_training
    assert jobs._runner("ast_sam") is ast_sam.run_training
    with pytest.raises(KeyError, match="unknown paper"):
        jobs._runner("p4")
