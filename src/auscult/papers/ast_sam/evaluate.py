"""ICBHI 2017 4-class cycle metrics (normal 0, crackle 1, wheeze 2, both 3).

- Specificity ``sp`` = normal cycles predicted normal / normal cycles.
- Sensitivity, two definitions (report both; they are not comparable):

  - ``se_exact``: abnormal cycles predicted as *their own* class / abnormal cycles (the
    ICBHI challenge convention; Patch-Mix CL's 62.37 uses it);
  - ``se_any``: abnormal cycles predicted as *any* abnormal class / abnormal cycles
    (``sum(cm[1:, 1:]) / sum(cm[1:, :])``, the AST+SAM paper's code; its 68.10 uses it).

- ``score_exact`` = (sp + se_exact) / 2 and ``score_any`` = (sp + se_any) / 2.

Values are fractions in [0, 1] (tables print percent). A rate without any cycle of its
class is NaN. Only numpy is needed. The metric functions live in :mod:`auscult.evaluation.metrics`
(training scores its epochs with them) and are re-exported here.
"""

from __future__ import annotations

from auscult.evaluation.metrics import ICBHI_CLASS_NAMES as CLASS_NAMES
from auscult.evaluation.metrics import ICBHI_METRICS as METRICS
from auscult.evaluation.metrics import ICBHI_N_CLASSES as N_CLASSES
from auscult.evaluation.metrics import confusion_matrix, icbhi_metrics
from auscult.evaluation.metrics import icbhi_metrics_from_cm as metrics_from_cm

__all__ = ["CLASS_NAMES", "METRICS", "N_CLASSES", "confusion_matrix", "icbhi_metrics", "metrics_from_cm",
           "run_evaluation"]


def run_evaluation(
    *,
    features_dir,
    run_dir,
    model_cfg: dict,
    split_cfg: dict,
    out_metrics,
    out_predictions,
    threads: int = 1,
    device: str | None = None,
) -> dict:
    """Score one trained (variant, seed) on the official test cycles under both protocols.

    ``clean``: ``run_dir/model.pt`` (epoch selected on the validation split);
    ``paper``: ``run_dir/model_paper.pt`` (epoch selected on the test set, the AST+SAM
    paper's protocol), when the run has one. Writes ``metrics.json`` and a
    ``predictions.csv`` with one row per test cycle (labels, predictions, logits).
    """
    import json
    from pathlib import Path

    import pandas as pd
    import torch

    from auscult.atomic import write_csv, write_json
    from auscult.features.store import load_arrays, read_index
    from auscult.models import build_model
    from auscult.splits import icbhi_protocol_splits as protocol_splits
    from auscult.training.engine import predict_logits

    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    run_dir = Path(run_dir)
    summary = json.loads((run_dir / "train_summary.json").read_text())
    test = protocol_splits(read_index(features_dir), split_cfg)["test"]
    # Weights come from the run; never re-resolve (or download) the pretrained checkpoint.
    model = build_model({**model_cfg, "pretrained": False})
    _, arrays = load_arrays(features_dir, model.inputs, test["record_id"].tolist(), dtype="float32")
    y = test["label"].to_numpy()
    preds = test[["record_id", "recording", "patient_id", "label"]].copy()
    metrics: dict = {"n_test": int(len(y)), "selection": summary["selection"], "weights": summary.get("weights"),
                     "train": {k: summary.get(k) for k in ("device_name", "wall_s", "epochs_run", "n_train", "n_val")}}
    for protocol, name in (("clean", "model.pt"), ("paper", "model_paper.pt")):
        path = run_dir / name
        if not path.is_file():
            continue
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        logits = predict_logits(model, arrays, batch_size=64, device=device)
        pred = logits.argmax(1)
        metrics[protocol] = icbhi_metrics(y, pred)
        preds[f"pred_{protocol}"] = pred
        for k in range(logits.shape[1]):
            preds[f"logit_{protocol}_{k}"] = logits[:, k]
    write_json(out_metrics, metrics)
    write_csv(out_predictions, pd.DataFrame(preds))
    return metrics
