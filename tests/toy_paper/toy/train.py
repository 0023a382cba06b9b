"""Rule ``toy_train``: one run of the toy paper's model (:mod:`toy.model`) under its protocol
(:mod:`toy.protocol`): fit on train, threshold on validation, official test records scored."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

from toy import model, protocol


def train(features_dir: str | Path, train_params: Mapping, seed: int, out_dir: str | Path) -> dict:
    """``train_params``: :func:`auscult.layout.train_slice` of ``toy`` (model, split,
    max_train_records, threshold_rule). Writes metrics.json and predictions.csv."""
    t0 = time.perf_counter()
    parts, x, y = protocol.load(features_dir, train_params)
    m = model.fit(x["train"], y["train"], train_params["model"], seed)
    return protocol.score_and_write(out_dir, parts, y, {k: model.scores(m, x[k]) for k in ("val", "test")},
                                    train_params, seed, t0, model=dict(train_params["model"]),
                                    n_params=m.n_params, device_name="CPU (numpy)")
