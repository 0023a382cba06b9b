"""Input functions of the AudioFuse rules (``rules.smk`` beside this file)."""

from __future__ import annotations

from collections.abc import Mapping

from auscult import layout
from auscult.smk import cross_stage

RUN = "runs/audiofuse/{variant}/{dig}/seed{seed}"  # layout.run_dir
RESULT = "results/audiofuse/{variant}/{dig}/seed{seed}"  # layout.result_dir


def features(config: Mapping, role: str):
    """The feature cache of the training (``role="train"``) or transfer dataset."""
    block = config["audiofuse"]
    ds = block["train_dataset"] if role == "train" else block["transfer_dataset"]
    return cross_stage(layout.features_dir(config, ds, block["features"]))


def eval_input(config: Mapping):
    """The evaluation job's inputs: its run's model and summary, both feature caches."""

    def inputs(w):
        run = layout.run_dir(config, "audiofuse", w.variant, w.seed)
        return {
            "model": cross_stage(f"{run}/model.pt"),
            "summary": cross_stage(f"{run}/train_summary.json"),
            "train_features": features(config, "train"),
            "transfer_features": features(config, "transfer"),
        }

    return inputs
