"""Table T6 of the AST+SAM ICBHI paper (P3): the WRS / SAM ablation, two protocols.

Long table ``ast_sam_t6_ablation``: rows ``ast``, ``ast_wrs``, ``ast_wrs_sam`` (variants of
``ast_sam.tables.t6_ablation``) x metrics Sp, Se_exact, Se_any, Score_exact, Score_any (in
percent) x protocols ``clean`` (checkpoint selected on the validation split carved from the
official training recordings) and ``paper`` (checkpoint selected on the test set, as the
paper's code does). The paper's values stand beside the metrics they correspond to: its
Se is the any-abnormal sensitivity, so its 68.10 Score is printed beside ``Score_any``.
The ``data`` column says ``synthetic`` with counts when any recording was generated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from auscult.reporting.tables import Cell

T6 = "ast_sam_t6_ablation"
PROTOCOLS = ("clean", "paper")
# metric label in the table -> key in metrics.json, key in paper_values.yaml
METRICS = {
    "Sp": ("sp", "sp"),
    "Se_exact": ("se_exact", None),
    "Se_any": ("se_any", "se"),
    "Score_exact": ("score_exact", None),
    "Score_any": ("score_any", "score"),
}

NOTES = [
    "Metrics in percent over the official ICBHI test split (test cycles used: see below). Sp = normal "
    "cycles predicted normal / normal cycles. Se_exact = abnormal cycles predicted as their own class / "
    "abnormal cycles (ICBHI convention, Patch-Mix CL 62.37). Se_any = abnormal cycles predicted as any "
    "abnormal class (the AST+SAM paper's code). Score = (Sp + Se) / 2 for each; the paper's 68.10 "
    "uses Se_any, so it is printed beside Score_any only.",
    "protocol clean: epoch selected on a validation split carved from the official training "
    "recordings, grouped by patient. protocol paper: epoch selected on the test set by Score_any, as "
    "the paper's code does; reported for comparison only (optimistic by construction).",
]


def input_note(max_length: int) -> str:
    return (f"The AST input here is {max_length} frames (10 ms shift, cycles repeated or cropped to the "
            "recipe's clip); the paper used 1024 padded frames, AST's AudioSet length.")


def split_note(manifest: pd.DataFrame) -> str:
    """The official split as this run's manifest has it: recordings per side and the patients
    found on both sides (the split is by recording, not by patient)."""
    rec = manifest.drop_duplicates("recording")
    n = rec["official_split"].value_counts()
    pats = {side: set(rec.loc[rec["official_split"] == side, "patient_id"].astype(str)) for side in ("train", "test")}
    shared = sorted(pats["train"] & pats["test"])
    return (f"Official split in this run's manifest: {int(n.get('train', 0))} train / {int(n.get('test', 0))} "
            f"test recordings ({len(manifest)} cycles); patients with recordings on both sides: "
            f"{', '.join(shared) if shared else 'none'}.")


def load_seed_metrics(paths: Sequence[str | Path]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def data_label(summaries: Sequence[Mapping | None]) -> str:
    """'real', or 'synthetic (910 of 920 recordings generated)' from synthesis summaries
    (``auscult.datasets.synthetic_icbhi.synthesis_summary``), or 'synthetic' for a fully
    synthetic demo database (pass {'synthesised': n, 'recordings': n})."""
    parts = [s for s in summaries if s]
    if not parts:
        return "real"
    n = sum(int(s["synthesised"]) for s in parts)
    total = sum(int(s["recordings"]) for s in parts)
    return f"synthetic ({n} of {total} recordings generated)"


def weights_label(seed_metrics: Mapping[str, Sequence[Mapping]]) -> str:
    """'pretrained', 'scratch' or 'mixed' over every run."""
    statuses = {((m.get("weights") or {}).get("status") or "scratch")
                for runs in seed_metrics.values() for m in runs}
    return statuses.pop() if len(statuses) == 1 else "mixed"


def t6_cells(seed_metrics: Mapping[str, Sequence[Mapping]], variants: Sequence[str], paper: Mapping) -> list[Cell]:
    """Cells of T6 from each variant's per-seed ``metrics.json`` dicts."""
    rows = paper[T6]["rows"]
    cells = []
    for variant in variants:
        runs = seed_metrics[variant]
        row_paper = rows.get(variant, {})
        label = row_paper.get("label", variant)
        for protocol in PROTOCOLS:
            for metric, (key, paper_key) in METRICS.items():
                values = [100.0 * m[protocol][key] for m in runs if protocol in m]
                if not values:
                    continue
                ref = row_paper.get(paper_key) if paper_key else None
                epochs = [((m.get("selection") or {}).get(protocol) or {}).get("epoch") for m in runs]
                cells.append(Cell(T6, label, variant, metric, protocol, values, paper=ref,
                                  extra={"epochs": epochs}, flag=constant_flag(runs, protocol)))
    return cells


def constant_flag(runs: Sequence[Mapping], protocol: str) -> str:
    """'constant predictor' when every seed predicts one class for every test cycle (its Sp
    or Se is 100 by construction and its Score says nothing about the cycles)."""
    import numpy as np

    mats = [np.asarray(m[protocol]["confusion"]) for m in runs if protocol in m and "confusion" in m[protocol]]
    if mats and all(int((mat.sum(axis=0) > 0).sum()) <= 1 for mat in mats):
        predicted = int(np.argmax(mats[0].sum(axis=0)))
        return f"constant predictor (every cycle class {predicted})"
    return ""


def confusion_matrices(seed_metrics: Mapping[str, Sequence[Mapping]], protocol: str = "clean") -> dict:
    """Summed 4x4 confusion matrix per variant over seeds (for the figure)."""
    import numpy as np

    out = {}
    for variant, runs in seed_metrics.items():
        mats = [np.asarray(m[protocol]["confusion"]) for m in runs if protocol in m]
        if mats:
            out[variant] = np.sum(mats, axis=0)
    return out
