"""Input and parameter functions of the Koike rules (``rules.smk`` beside this file)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult import layout
from auscult.papers import koike as paper
from auscult.smk import cross_stage

RUN_FILES = ("model.pt", "history.csv", "split.csv", "predictions.csv", "train_summary.json", "model_card.json")


def features(config: Mapping):
    return cross_stage(layout.paper_features_dir(config, "koike"))


def runs(config: Mapping, model: str, name: str = "model.pt") -> list[str]:
    """``name`` of every run of ``model``: each of its inputs, every seed."""
    return [f for v in paper.model_variants(config, model) for f in layout.variant_run_files(config, "koike", v, (name,))]


def job_outputs(config: Mapping, model: str) -> list[str]:
    """What the job training ``model`` for seed ``{seed}`` writes: every file of each of its
    runs (one per input), each under that run's own digest (layout.run_dir)."""
    return [f"{layout.run_dir(config, 'koike', v, '{seed}')}/{name}"
            for v in paper.model_variants(config, model) for name in RUN_FILES]


def job_runs(config: Mapping, model: str):
    """{variant: its ``train`` slice, ``run_dir`` and resumable-state ``checkpoint_dir``} for
    each run of the job training ``model`` for seed ``{seed}``."""

    def runs_of(w):
        return {v: {"train": layout.train_slice(config, "koike", v),
                    "run_dir": layout.run_dir(config, "koike", v, w.seed),
                    "checkpoint_dir": layout.checkpoint_dir(config, "koike", v, w.seed)}
                for v in paper.model_variants(config, model)}

    return runs_of
