"""Koike et al. tables T4 (UAR) and T5 (specificity, sensitivity, F1) from per-seed runs.

Called by the `tables` rule (workflow/rules/report.smk). Each cell is the mean ± std over
seeds of a metric computed here from ``runs/koike/<model>/<input>/<digest>/seed<k>/
predictions.csv`` (test part, probability >= 0.5 = abnormal; written by rule `koike_run_<model>`,
auscult.papers.koike.train.run_training), with a 95 % interval covering test sampling and seed
spread (auscult.stats.paired.estimate; one seed: test sampling only). The
``weights`` column of every cell says whether its runs started from pretrained weights or
from scratch (a scratch cell whose runs asked for pretrained weights could not reach them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from auscult.evaluation.metrics import binary_metrics
from auscult.layout import FLOOR
from auscult.reporting import floor
from auscult.reporting.tables import Cell, load_json
from auscult.stats import paired

T4, T5 = "koike_t4_uar", "koike_t5_spec_sens_f1"
THRESHOLD = 0.5  # classes are sampled equally in training, so 0.5 is the natural cut
INPUT_LABELS = {"logmel": "log-mel", "linear": "spectrogram", "floor_stats": floor.INPUT_LABEL}
# metric key in auscult.evaluation.metrics -> column name in the tables
T5_METRICS = {"specificity": "spec", "sensitivity": "sens", "f1": "f1"}


class KoikeRuns:
    """All seeds of one Koike variant: training summaries and test predictions."""

    def __init__(self, summaries: Sequence[str], predictions: Sequence[str]):
        self.summaries = [load_json(p) for p in summaries]
        preds = [pd.read_csv(p, dtype={"record_id": str}) for p in predictions]
        self.test = [d[d["part"] == "test"].sort_values("record_id").reset_index(drop=True) for d in preds]
        self.metrics = [binary_metrics(d["label"], d["score"], THRESHOLD) for d in self.test]

    def values(self, metric: str) -> list[float]:
        return [float(m[metric]) for m in self.metrics]

    def weights(self) -> str:
        """'pretrained' or 'scratch' when all seeds agree, else 'mixed: ...'."""
        kinds = sorted({s["weights"] for s in self.summaries})
        return kinds[0] if len(kinds) == 1 else "mixed: " + "/".join(kinds)

    def runs(self) -> paired.Runs | None:
        """The seeds' test scores as :class:`auscult.stats.paired.Runs` (threshold 0.5)."""
        ids = self.test[0]["record_id"].to_numpy()
        if any(not np.array_equal(d["record_id"].to_numpy(), ids) for d in self.test):
            return None
        return paired.Runs(ids, self.test[0]["label"].to_numpy(), np.vstack([d["score"].to_numpy() for d in self.test]),
                           np.full(len(self.test), THRESHOLD))

    def ci(self, metric: str, boot: Mapping) -> tuple[float, float] | None:
        """95 % interval of the seed-mean metric, covering test sampling and seed spread."""
        r = self.runs()
        if r is None:
            return None
        e = paired.estimate(r, metric, n_boot=int(boot["n_boot"]), seed=int(boot["seed"]), alpha=float(boot["alpha"]))
        return e.low, e.high


def row_flags(runs: Mapping[str, KoikeRuns]) -> dict[str, str]:
    """{variant: flag} for constant predictors and for variants whose test scores are
    bit-identical to an earlier variant's (e.g. ResNeXt-101 and its WSL twin from the same
    scratch initialisation): a claim merges such a pair into one row."""
    flags, seen = {}, {}
    for v, r in runs.items():
        rr = r.runs()
        if rr is None:
            continue
        if paired.is_constant(rr):
            flags[v] = "constant predictor"
        for other, o in seen.items():
            if paired.identical(o, rr):
                flags[v] = (flags.get(v, "") + "; " if v in flags else "") + f"identical to {other}"
                break
        seen[v] = rr
    return flags


def claim_runs(runs: Mapping[str, KoikeRuns], models: Mapping[str, Sequence[str]]
               ) -> dict[str, dict[str, dict[str, paired.Runs]]]:
    """{table: {variant: {input label: Runs}}} for the claims engine: the same variants and
    input labels as :func:`t4_cells` (``models``: model -> its inputs, the floor included)."""
    out: dict = {T4: {}, T5: {}}
    for model, inputs in models.items():
        for inp in inputs:
            v = f"{model}_{inp}"
            if v in runs and (rr := runs[v].runs()) is not None:
                for t in out:
                    out[t][v] = {INPUT_LABELS[inp]: rr}
    return out


def _paper(paper: Mapping, table: str, model: str, key: str) -> float | None:
    if model == FLOOR:
        return None  # the reference floor is not in the paper
    return paper.get(table, {}).get("rows", {}).get(model, {}).get(key)


def _label(paper: Mapping, model: str) -> str:
    if model == FLOOR:
        return floor.LABEL
    return paper.get(T4, {}).get("rows", {}).get(model, {}).get("label", model)


def t4_cells(runs: Mapping[str, KoikeRuns], models: Mapping[str, Sequence[str]], rows: Sequence[str],
             paper: Mapping, boot: Mapping) -> list[Cell]:
    """Rows: models; per input the UAR (%), plus the trainable parameter count."""
    cells, flags = [], row_flags(runs)
    for model in rows:
        label = _label(paper, model)
        variants = [f"{model}_{inp}" for inp in models[model]]
        first = runs[variants[0]]
        if first.summaries[0].get("n_params") is not None:  # the classical floor has no such count
            cells.append(Cell(T4, label, variants[0], "params_M", "trainable, PyTorch count (millions)",
                              [s["n_params"] / 1e6 for s in first.summaries],
                              paper=_paper(paper, T4, model, "params_M"), extra={"weights": first.weights()}))
        for inp in models[model]:
            r = runs[f"{model}_{inp}"]
            ci = r.ci("uar", boot)
            cells.append(Cell(T4, label, f"{model}_{inp}", "uar_%", INPUT_LABELS[inp],
                              [100 * v for v in r.values("uar")],
                              paper=_paper(paper, T4, model, f"uar_{inp}"),
                              ci=(100 * ci[0], 100 * ci[1]) if ci else None, extra={"weights": r.weights()},
                              flag=flags.get(f"{model}_{inp}", "")))
            # reduced budgets may give rows different schedules (koike.models.<m>.training,
            # .max_train_records): each row says what it trained on
            for key in ("epochs_run", "n_train"):
                vals = [float(s[key]) for s in r.summaries if s.get(key) is not None]
                if vals:
                    cells.append(Cell(T4, label, f"{model}_{inp}", key, INPUT_LABELS[inp], vals,
                                      extra={"weights": r.weights()}))
    return cells


def t5_cells(runs: Mapping[str, KoikeRuns], models: Mapping[str, Sequence[str]], rows: Sequence[str],
             paper: Mapping, boot: Mapping) -> list[Cell]:
    """Rows: models; per input specificity, sensitivity and F1 (abnormal), in %."""
    cells, flags = [], row_flags(runs)
    for model in rows:
        label = _label(paper, model)
        for inp in models[model]:
            r = runs[f"{model}_{inp}"]
            for metric, col in T5_METRICS.items():
                ci = r.ci(metric, boot)
                cells.append(Cell(T5, label, f"{model}_{inp}", f"{col}_%", INPUT_LABELS[inp],
                                  [100 * v for v in r.values(metric)],
                                  paper=_paper(paper, T5, model, f"{col}_{inp}"),
                                  ci=(100 * ci[0], 100 * ci[1]) if ci else None, extra={"weights": r.weights()},
                                  flag=flags.get(f"{model}_{inp}", "")))
    return cells


def build_tables(runs: Mapping[str, KoikeRuns], models: Mapping[str, Sequence[str]],
                 tables_cfg: Mapping[str, Sequence[str]], paper: Mapping, boot: Mapping) -> dict[str, list[Cell]]:
    """``models``: model -> the inputs it was trained on (params ``koike.models.<m>.inputs``)."""
    return {
        T4: t4_cells(runs, models, tables_cfg["t4_uar"], paper, boot),
        T5: t5_cells(runs, models, tables_cfg["t5_spec_sens_f1"], paper, boot),
    }


def split_note(runs: Mapping[str, KoikeRuns]) -> str:
    s = next(iter(runs.values())).summaries[0]
    return (f"Stratified 3:1:1 split of the PhysioNet 2016 training recordings (seeded, recorded in "
            f"split.csv of every run): {s['n_train']} train / {s['n_dev']} dev / {s['n_test']} test used "
            f"here; abnormal fraction of the test part {s['test_abnormal_fraction']:.3f}.")


NOTES = {
    T4: [
        "UAR = mean of sensitivity and specificity on the test part, abnormal when the model's "
        "probability >= 0.5 (classes are sampled equally in training). The checkpoint is the epoch "
        "with the best dev UAR; the test part is scored once, after selection.",
        "params_M: trainable parameters of the model built here (one-channel first conv, binary "
        "head). The paper's column is the ImageNet/AudioSet network without its classifier, with "
        "the RGB first conv, truncated to 0.1 M (CNN14 includes its 527-way AudioSet layer); see "
        "auscult.models.imagenet and auscult.models.cnn14 for the exact reconciliation.",
        "epochs_run / n_train: epochs and training recordings of each row's runs (mean over seeds); "
        "reduced budgets may give rows different schedules (params `koike.models.<model>.training` "
        "and `.max_train_records`), while every row is scored on the same dev and test recordings.",
        "weights: 'pretrained' = canonical checkpoint (torchvision V1 / WSL / PANNs Zenodo) loaded; "
        "'scratch' = random initialisation, either asked for (params weights: scratch) or because no "
        "checkpoint could be found or downloaded (train_summary.json of each run gives the reason). "
        "Scratch numbers are not comparable with the paper's pretrained ones.",
        "CNN14 reads the waveform through its own STFT/mel layers (params koike.models.cnn14.config; "
        "paper budget: window 400, hop 400, 64 mel bins up to 1 kHz); the paper has no spectrogram "
        "result for it.",
    ],
    T5: [
        "Specificity, sensitivity (recall of abnormal) and F1 of the abnormal class on the test part, "
        "at probability 0.5; same runs as T4.",
    ],
}
NO_PATIENT_IDS = ("PhysioNet 2016 has no patient ids, so every split is by recording and a subject may "
                  "sit on both sides of it.")
for _notes in NOTES.values():
    _notes.append(NO_PATIENT_IDS)


def paper_consistency_note(paper: Mapping) -> str:
    """Where the paper's Table II UAR differs from (Spec + Sens) / 2 of its own Table III:
    then T4 and T5 cannot both match the paper, whatever a reproduction does."""
    t4, t5 = paper.get(T4, {}).get("rows", {}), paper.get(T5, {}).get("rows", {})
    gaps = []
    for model, row in t4.items():
        for inp in ("logmel", "linear"):
            uar, spec = row.get(f"uar_{inp}"), t5.get(model, {}).get(f"spec_{inp}")
            sens = t5.get(model, {}).get(f"sens_{inp}")
            if None not in (uar, spec, sens) and abs(uar - (spec + sens) / 2) > 1.0:
                gaps.append((abs(uar - (spec + sens) / 2), f"{row.get('label', model)} {inp}: "
                             f"{uar:.1f} vs {(spec + sens) / 2:.1f}"))
    if not gaps:
        return "The paper's Table II UAR equals (Spec + Sens) / 2 of its Table III within 1 point."
    worst = [g for _, g in sorted(gaps, reverse=True)]
    return (f"The paper's Table II UAR is not (Spec + Sens) / 2 of its Table III for {len(gaps)} of its "
            f"cells (e.g. {'; '.join(worst[:3])}), so T4 and T5 cannot both match the paper.")
