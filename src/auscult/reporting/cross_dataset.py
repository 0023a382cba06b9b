"""The cross-dataset table: every trained binary heart-sound model, zero-shot, per target.

Input: the ``scores.csv`` files of rule ``cross_dataset_score``
(:data:`auscult.evaluation.cross_dataset.COLUMNS`, one row per model run x target x record).
One table row per (model, target): AUC (mean over seeds, 95 % percentile bootstrap CI of the
seed mean, resampling the target's recordings within each class), sensitivity and
specificity at each run's own validation threshold (mean over seeds), n (and n abnormal),
seeds, and how many recordings are more than half padding under the model's recipe.
Pure pandas/numpy: unit-testable without Snakemake.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv, write_text
from auscult.evaluation.metrics import DegenerateMetricWarning, binary_metrics, bootstrap_ci

NAME = "cross_dataset"
TITLE = "Cross-dataset zero-shot evaluation of the binary heart-sound models"
FAMILY_LABEL = {"audiofuse": "AudioFuse", "koike": "Koike", "floor": "reference floor (not in any paper)"}
PAD_LIMIT = 0.5
COLUMNS = ["model", "family", "variant", "target", "n", "n_abnormal", "seeds", "auc", "auc_low", "auc_high",
           "sensitivity", "specificity", "threshold", "n_half_padded", "data", "weights", "budget"]


def model_label(family: str, variant: str) -> str:
    return FAMILY_LABEL[family] if family == "floor" else f"{FAMILY_LABEL.get(family, family)} {variant}"


def load_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"record_id": str, "variant": str, "target": str}) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def build_table(scores: pd.DataFrame, bootstrap: Mapping, *, targets: Sequence[str] | None = None,
                data: str = "real", budget: str = "paper") -> pd.DataFrame:
    """One row per (model, target) of ``scores``, in family / variant / target order."""
    rows = []
    order = list(targets) if targets is not None else list(dict.fromkeys(scores["target"]))
    fam_order = {f: i for i, f in enumerate(FAMILY_LABEL)}
    keys = scores[["family", "variant"]].drop_duplicates()
    keys = sorted(map(tuple, keys.to_numpy()), key=lambda k: (fam_order.get(k[0], 99), str(k[1])))
    for family, variant in keys:
        for target in order:
            sub = scores[(scores["family"] == family) & (scores["variant"] == variant) & (scores["target"] == target)]
            if sub.empty:
                continue
            seeds = sorted(sub["seed"].unique())
            per = [sub[sub["seed"] == s].sort_values("record_id", kind="stable") for s in seeds]
            y = per[0]["label"].to_numpy().astype(int)
            if any(not np.array_equal(p["record_id"].to_numpy(), per[0]["record_id"].to_numpy()) for p in per):
                raise ValueError(f"{family} {variant} on {target}: the seeds scored different recordings")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DegenerateMetricWarning)
                m = [binary_metrics(y, p["score"].to_numpy(), float(p["threshold"].iloc[0])) for p in per]
                lo, hi = bootstrap_ci("auc", y, [p["score"].to_numpy() for p in per], n_boot=int(bootstrap["n_boot"]),
                                      seed=int(bootstrap["seed"]), alpha=float(bootstrap["alpha"]))
            rows.append({
                "model": model_label(family, variant), "family": family, "variant": variant, "target": target,
                "n": int(len(y)), "n_abnormal": int(y.sum()), "seeds": len(seeds),
                "auc": float(np.mean([r["auc"] for r in m])), "auc_low": lo, "auc_high": hi,
                "sensitivity": float(np.mean([r["sensitivity"] for r in m])),
                "specificity": float(np.mean([r["specificity"] for r in m])),
                "threshold": float(np.mean([p["threshold"].iloc[0] for p in per])),
                "n_half_padded": int((per[0]["pad_fraction"].to_numpy() > PAD_LIMIT).sum()),
                "data": data, "weights": ",".join(sorted(set(sub["weights"].astype(str))))
                if "weights" in sub else "scratch", "budget": budget,
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def padding_notes(table: pd.DataFrame, clip_seconds: Mapping[str, float] | None = None) -> list[str]:
    """One note per (family, target) where more than half of some inputs is padding."""
    notes = []
    seen = set()
    for _, r in table.iterrows():
        key = (r["family"], r["target"])
        if r["n_half_padded"] <= 0 or key in seen:
            continue
        seen.add(key)
        clip = f" ({clip_seconds[r['family']]:g} s clip)" if clip_seconds and r["family"] in clip_seconds else ""
        notes.append(f"{r['target']}: {r['n_half_padded']} of {r['n']} recordings are more than half padding under "
                     f"the {FAMILY_LABEL.get(r['family'], r['family'])} recipe{clip}: shorter recordings are "
                     "zero-padded as that paper's recipe does, so these scores rest on less signal.")
    return notes


NOTES = [
    "Zero-shot: every model unchanged, trained on its paper's training data (PhysioNet 2016); nothing is fitted "
    "or chosen on a target.",
    "Threshold: each run's own, chosen on its validation split (AudioFuse and the floor: the paper's "
    "threshold_rule on the PhysioNet validation split; Koike: probability 0.5, its protocol). Sensitivity and "
    "specificity are at that threshold, means over seeds.",
    "AUC: mean over seeds; 95 % CI: percentile bootstrap of the seed mean over the target's recordings, "
    "resampled within each class. n: labelled recordings of the target (n_abnormal of them abnormal).",
    "The floor has no saved model: it is re-fitted as its job fitted it (same vectors, split and seed) and its "
    "validation threshold checked against the one the floor job recorded.",
]


def _fmt(x: float, d: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"


def render_markdown(table: pd.DataFrame, notes: Sequence[str], provenance: Mapping[str, str], budget: str) -> str:
    lines = [f"# {TITLE}", ""]
    if budget != "paper":
        lines += [f"> pipeline check at budget {budget}, not a reproduction (data={table['data'].iloc[0] if len(table) else '?'}, "
                  f"budget={budget})", ""]
    lines += ["| Model | Target | AUC (95 % CI) | Sensitivity | Specificity | n (abnormal) | seeds | >50 % padding |",
              "|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['model']} | {r['target']} | {_fmt(r['auc'])} ({_fmt(r['auc_low'])}–{_fmt(r['auc_high'])}) "
                     f"| {_fmt(r['sensitivity'])} | {_fmt(r['specificity'])} | {r['n']} ({r['n_abnormal']}) "
                     f"| {r['seeds']} | {r['n_half_padded']} |")
    lines += ["", "Notes:", ""] + [f"- {n}" for n in notes] + ["", "Provenance:", ""]
    lines += [f"- {k}: {v}" for k, v in provenance.items()]
    return "\n".join(lines) + "\n"


def write(out_dir: str | Path, table: pd.DataFrame, *, notes: Sequence[str], provenance: Mapping[str, str],
          budget: str) -> None:
    out_dir = Path(out_dir)
    write_csv(out_dir / f"{NAME}.csv", table)
    write_text(out_dir / f"{NAME}.md", render_markdown(table, notes, provenance, budget))
