"""The reference floor under the toy paper's protocol (the module's ``FLOOR``, run by the
shared rule ``floor_toy_run``): the shared classical model (:mod:`auscult.training.floor`) on
the same parts as the toy model, threshold on validation; writes what a toy training job
writes (metrics.json, predictions.csv)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from auscult.training import floor
from toy import protocol


def run_floor(*, features: Sequence[str | Path], floor_params: Mapping, seed: int, out_dir: str | Path,
              threads: int = 1) -> dict:
    """``floor_params``: :func:`auscult.layout.floor_slice` of ``toy`` (model, split,
    max_train_records, threshold_rule); ``features``: the floor cache of the train dataset."""
    t0 = time.perf_counter()
    with floor.thread_limit(threads):
        parts, x, y = protocol.load(features[0], floor_params)
        m = floor.fit(x["train"], y["train"], floor_params["model"], seed)
        return protocol.score_and_write(out_dir, parts, y, {k: floor.scores(m, x[k]) for k in ("val", "test")},
                                        floor_params, seed, t0, model=dict(floor_params["model"]),
                                        device_name=floor.device_name())
