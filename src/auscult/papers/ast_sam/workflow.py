"""Input functions of the AST + SAM rules (``rules.smk`` beside this file)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult import layout
from auscult.smk import cross_stage

RUN = "runs/ast_sam/{variant}/{dig}/seed{seed}"  # layout.run_dir
RESULT = "results/ast_sam/{variant}/{dig}/seed{seed}"  # layout.result_dir


def features(config: Mapping):
    return cross_stage(layout.paper_features_dir(config, "ast_sam"))


def eval_input(config: Mapping):
    """The evaluation job's inputs: both selected models of its run, the summary, the features."""

    def inputs(w):
        run = layout.run_dir(config, "ast_sam", w.variant, w.seed)
        return {
            "model": cross_stage(f"{run}/model.pt"),
            "paper_model": cross_stage(f"{run}/model_paper.pt"),
            "summary": cross_stage(f"{run}/train_summary.json"),
            "features": features(config),
        }

    return inputs
