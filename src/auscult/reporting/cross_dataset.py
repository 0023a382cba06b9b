"""The cross-dataset table: every trained binary heart-sound model, zero-shot, per target.

Input: the ``scores.csv`` files of rule ``cross_dataset_score``
(:data:`auscult.evaluation.cross_dataset.COLUMNS`, one row per model run x target x record).
One table row per (model, target): AUC (mean over seeds, 95 % interval of the seed mean
covering test sampling and seed spread, auscult.stats.paired.estimate), sensitivity and
specificity at each run's own validation threshold (mean over seeds), n (and n abnormal),
seeds, and how many recordings are more than half padding under the model's recipe.
Where a dataset comes as several targets (``pascal/set_a``, ``pascal/set_b``), one more row
pools them, with the confound-free AUC (pairs within a set only) and the *set
identifiability* AUC: how well the model's scores alone tell the sets apart. A row whose
AUC interval lies wholly below 0.5 is flagged as a reversed decision rule.
Pure pandas/numpy: unit-testable without Snakemake.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv, write_text
from auscult.evaluation.metrics import DegenerateMetricWarning, binary_metrics
from auscult.reporting import markdown as md
from auscult.reporting.tables import reversed_flag
from auscult.stats import paired

NAME = "cross_dataset"
TITLE = "Cross-dataset zero-shot evaluation of the binary heart-sound models"
FLOOR_LABEL = "reference floor (not in any paper)"


def family_labels() -> dict[str, str]:
    """Each model family's name in the table, in row order: the registered papers (their
    module's ``LABEL``), then the floor."""
    from auscult import registry

    return {**{n: getattr(m, "LABEL", n) for n, m in registry.REGISTRY.items()}, "floor": FLOOR_LABEL}
PAD_LIMIT = 0.5
COLUMNS = ["model", "family", "variant", "target", "n", "n_abnormal", "seeds", "auc", "auc_low", "auc_high",
           "sensitivity", "specificity", "threshold", "n_half_padded", "auc_within", "auc_within_low", "auc_within_high",
           "set_id_auc", "set_id_low", "set_id_high", "flag", "data", "weights", "budget"]
POOLED = " (sets pooled)"


def model_label(family: str, variant: str) -> str:
    labels = family_labels()
    return labels[family] if family == "floor" else f"{labels.get(family, family)} {variant}"


def load_scores(paths: Iterable[str | Path]) -> pd.DataFrame:
    frames = [pd.read_csv(p, dtype={"record_id": str, "variant": str, "target": str}) for p in paths]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _runs(per: Sequence[pd.DataFrame], strata: np.ndarray | None = None) -> paired.Runs:
    return paired.Runs(per[0]["record_id"].to_numpy(), per[0]["label"].to_numpy().astype(int),
                       np.vstack([p["score"].to_numpy() for p in per]),
                       np.array([float(p["threshold"].iloc[0]) for p in per]), strata=strata)


def _interval(runs: paired.Runs, metric: str, bootstrap: Mapping) -> paired.Estimate:
    return paired.estimate(runs, metric, n_boot=int(bootstrap["n_boot"]), seed=int(bootstrap["seed"]),
                           alpha=float(bootstrap["alpha"]))


def _seeds(sub: pd.DataFrame, what: str) -> list[pd.DataFrame]:
    seeds = sorted(sub["seed"].unique())
    per = [sub[sub["seed"] == s].sort_values("record_id", kind="stable") for s in seeds]
    if any(not np.array_equal(p["record_id"].to_numpy(), per[0]["record_id"].to_numpy()) for p in per):
        raise ValueError(f"{what}: the seeds scored different recordings")
    return per


def _row(family: str, variant: str, target: str, per: Sequence[pd.DataFrame], sub: pd.DataFrame,
         bootstrap: Mapping, data: str, budget: str, strata: np.ndarray | None = None) -> dict:
    y = per[0]["label"].to_numpy().astype(int)
    runs = _runs(per, strata)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DegenerateMetricWarning)
        m = [binary_metrics(y, p["score"].to_numpy(), float(p["threshold"].iloc[0])) for p in per]
    auc = _interval(runs, "auc", bootstrap)
    row = {
        "model": model_label(family, variant), "family": family, "variant": variant, "target": target,
        "n": int(len(y)), "n_abnormal": int(y.sum()), "seeds": len(per),
        "auc": float(np.mean([r["auc"] for r in m])), "auc_low": auc.low, "auc_high": auc.high,
        "sensitivity": float(np.mean([r["sensitivity"] for r in m])),
        "specificity": float(np.mean([r["specificity"] for r in m])),
        "threshold": float(np.mean([p["threshold"].iloc[0] for p in per])),
        "n_half_padded": int((per[0]["pad_fraction"].to_numpy() > PAD_LIMIT).sum()),
        "flag": reversed_flag((auc.low, auc.high)) or ("constant predictor" if paired.is_constant(runs) else ""),
        "data": data, "weights": ",".join(sorted(set(sub["weights"].astype(str)))) if "weights" in sub else "scratch",
        "budget": budget,
    }
    if strata is not None:  # a pooled row: the set confound, measured
        within = _interval(runs, "auc_within", bootstrap)
        ident = _interval(runs.relabel((strata == sorted(set(strata))[-1]).astype(int)), "auc", bootstrap)
        row.update(auc_within=within.value, auc_within_low=within.low, auc_within_high=within.high,
                   set_id_auc=ident.value, set_id_low=ident.low, set_id_high=ident.high)
        row["flag"] = reversed_flag((within.low, within.high), " within sets") or row["flag"]
    return row


def build_table(scores: pd.DataFrame, bootstrap: Mapping, *, targets: Sequence[str] | None = None,
                data: str = "real", budget: str = "paper") -> pd.DataFrame:
    """One row per (model, target) of ``scores``, in family / variant / target order, and one
    pooled row per dataset that comes as several targets."""
    rows = []
    order = list(targets) if targets is not None else list(dict.fromkeys(scores["target"]))
    fam_order = {f: i for i, f in enumerate(family_labels())}
    keys = scores[["family", "variant"]].drop_duplicates()
    keys = sorted(map(tuple, keys.to_numpy()), key=lambda k: (fam_order.get(k[0], 99), str(k[1])))
    for family, variant in keys:
        mine = scores[(scores["family"] == family) & (scores["variant"] == variant)]
        for target in order:
            sub = mine[mine["target"] == target]
            if not sub.empty:
                per = _seeds(sub, f"{family} {variant} on {target}")
                rows.append(_row(family, variant, target, per, sub, bootstrap, data, budget))
        parts: dict[str, list[str]] = {}
        for target in order:
            if "/" in target and not mine[mine["target"] == target].empty:
                parts.setdefault(target.split("/")[0], []).append(target)
        for dataset, members in parts.items():
            if len(members) < 2:
                continue
            sub = mine[mine["target"].isin(members)]
            per_target = [_seeds(sub[sub["target"] == t], f"{family} {variant} on {t}") for t in members]
            per = [pd.concat([pt[k] for pt in per_target], ignore_index=True) for k in range(len(per_target[0]))]
            strata = np.concatenate([np.full(len(pt[0]), t) for t, pt in zip(members, per_target, strict=True)])
            rows.append(_row(family, variant, dataset + POOLED, per, sub, bootstrap, data, budget, strata))
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
                     f"the {family_labels().get(r['family'], r['family'])} recipe{clip}: shorter recordings are "
                     "zero-padded as that paper's recipe does, so these scores rest on less signal.")
    return notes


NOTES = [
    "Zero-shot: every model unchanged, trained on its paper's training data (PhysioNet 2016); nothing is fitted "
    "or chosen on a target.",
    "Threshold: each run's own, chosen on its validation split (AudioFuse and the floor: the paper's "
    "threshold_rule on the PhysioNet validation split; Koike: probability 0.5, its protocol). Sensitivity and "
    "specificity are at that threshold, means over seeds.",
    "AUC: mean over seeds; 95 % CI of the seed mean covering test sampling (a bootstrap over the target's "
    "recordings, stratified by class) and seed spread (between-seed variance, t quantiles); one-seed rows cover "
    "test sampling only. n: labelled recordings of the target (n_abnormal of them abnormal).",
    "Rows '<dataset> (sets pooled)': the dataset's targets together. Pooled AUC mixes sets recorded with "
    "different devices and prevalences; 'within sets' counts only (abnormal, normal) pairs from the same set, so "
    "a score that merely tells the sets apart earns nothing there; 'set id.' is the AUC of the scores for the "
    "last set against the others (0.5: the scores carry no sign of the set; far from 0.5: the model's output "
    "keys on the recording setup). The in-domain retention of skill is in AudioFuse T2 (retention_within).",
    "⚠ reversed decision rule: the AUC interval lies wholly below 0.5, so the model ranks this target's "
    "abnormal recordings *below* its normal ones: it keys on something that flips between datasets, not a "
    "plain weak score.",
    "The floor has no saved model: it is re-fitted as its job fitted it (same vectors, split and seed) and its "
    "validation threshold checked against the one the floor job recorded.",
]


def _fmt(x: float, d: int = 3) -> str:
    return "–" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{d}f}"


def render_markdown(table: pd.DataFrame, notes: Sequence[str], provenance: Mapping[str, str], budget: str) -> str:
    lines = [f"# {md.text(TITLE)}", ""]
    if budget != "paper":
        data = table['data'].iloc[0] if len(table) else '?'
        lines += [f"> {md.text(f'pipeline check at budget {budget}, not a reproduction (data={data}, budget={budget})')}", ""]
    lines += ["| Model | Target | AUC (95 % CI) | AUC within sets (95 % CI) | set id. AUC (95 % CI) | Sensitivity "
              "| Specificity | n (abnormal) | seeds | >50 % padding |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        flag = f" ⚠ {r['flag']}" if isinstance(r.get("flag"), str) and r["flag"] else ""
        within = "" if pd.isna(r.get("auc_within")) else \
            f"{_fmt(r['auc_within'])} ({_fmt(r['auc_within_low'])}–{_fmt(r['auc_within_high'])})"
        ident = "" if pd.isna(r.get("set_id_auc")) else \
            f"{_fmt(r['set_id_auc'])} ({_fmt(r['set_id_low'])}–{_fmt(r['set_id_high'])})"
        cells = [r["model"], r["target"], f"{_fmt(r['auc'])} ({_fmt(r['auc_low'])}–{_fmt(r['auc_high'])}){flag}",
                 within, ident, _fmt(r["sensitivity"]), _fmt(r["specificity"]), f"{r['n']} ({r['n_abnormal']})",
                 r["seeds"], r["n_half_padded"]]
        lines.append("| " + " | ".join(md.cell(c) for c in cells) + " |")
    lines += ["", "Notes:", ""] + [f"- {md.text(n)}" for n in notes]
    lines += ["", "<details><summary>Provenance</summary>", ""]
    lines += [f"- **{md.text(k)}**: {md.text(v)}" for k, v in provenance.items()]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write(out_dir: str | Path, table: pd.DataFrame, *, notes: Sequence[str], provenance: Mapping[str, str],
          budget: str) -> None:
    out_dir = Path(out_dir)
    write_csv(out_dir / f"{NAME}.csv", table)
    write_text(out_dir / f"{NAME}.md", render_markdown(table, notes, provenance, budget))
