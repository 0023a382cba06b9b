"""The toy paper's table ``toy_t1``: test AUC and MCC of each row over seeds (the floor's row
beside the model's), and the per-record test scores the claims engine compares paired."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.layout import FLOOR
from auscult.reporting.floor import LABEL as FLOOR_LABEL
from auscult.reporting.tables import Cell
from auscult.stats import paired

TABLE = "toy_t1"
PROTOCOL = "test, threshold from validation"
METRICS = ("auc", "mcc")
NOTES = ["A test paper: a one-hidden-layer numpy MLP (toy.model) on the floor's MFCC + log-mel statistics, "
         "validation carved from the official training records, official test records scored."]


class SeedRuns:
    """One row's runs over seeds: metrics.json and predictions.csv of each."""

    def __init__(self, metrics: Sequence[str | Path], predictions: Sequence[str | Path]):
        self.metrics = [json.loads(Path(f).read_text()) for f in metrics]
        self.predictions = [pd.read_csv(f, dtype={"record_id": str}) for f in predictions]

    def paired(self) -> paired.Runs:
        """Test scores of every seed on the same records, with each seed's threshold."""
        tests = [p[p["part"] == "test"].sort_values("record_id") for p in self.predictions]
        return paired.Runs(record_ids=tests[0]["record_id"].to_numpy(), labels=tests[0]["label"].to_numpy(),
                           scores=np.stack([t["score"].to_numpy() for t in tests]),
                           thresholds=np.array([m["threshold"] for m in self.metrics]))


def cells(runs: Mapping[str, SeedRuns], rows: Sequence[str], paper_values: Mapping) -> list[Cell]:
    out = []
    for v in rows:
        label = FLOOR_LABEL if v == FLOOR else paper_values["rows"].get(v, {}).get("label", v)
        for metric in METRICS:
            paper = None if v == FLOOR else paper_values["rows"].get(v, {}).get(metric)
            out.append(Cell(TABLE, label, v, metric, PROTOCOL, [m["physionet_test"][metric] for m in runs[v].metrics],
                            paper=paper))
    return out
