"""Cross-dataset scoring: trained binary heart-sound models, unchanged, on other datasets.

One job per model family (``audiofuse``, ``koike``, ``floor``) scores every run of the
family on every ``cross_dataset.targets`` entry, from the target's feature cache computed
with the family's own recipe (rule ``features``), and writes one long ``scores.csv``
(:data:`COLUMNS`). Nothing is fitted or chosen on a target:

- AudioFuse / Koike runs are loaded from their folders through their model cards
  (``auscult.cards``; model.pt is checked against the card). The decision threshold is the
  one the card records on the run's own validation split for the paper's
  ``threshold_rule`` (AudioFuse) or the protocol's fixed 0.5 (Koike).
- The floor has no saved model: it is re-fitted exactly as its job fitted it (same cached
  vectors, split and seed: scikit-learn is deterministic for a given ``random_state``), its
  threshold chosen on the same PhysioNet validation split, and checked against the
  threshold the floor job recorded (``metrics.json``); a mismatch stops the job.

``pad_fraction`` is the share of the recipe's clip that is padding for each recording
(recordings shorter than the clip are zero-padded by the AudioFuse and Koike recipes; the
floor recipe does not pad, it summarises what there is: 0).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from auscult.atomic import write_csv
from auscult.features.store import load_arrays, read_index, read_meta
from auscult.splits import subsample

log = logging.getLogger(__name__)
COLUMNS = ["family", "variant", "seed", "target", "dataset", "record_id", "label", "score", "threshold",
           "pad_fraction", "weights"]


def padded_recipes() -> set[str]:
    """Recipes that zero-pad a recording shorter than their clip (each paper's ``PADDED_RECIPES``)."""
    from auscult import registry

    return {r for m in registry.REGISTRY.values() for r in getattr(m, "PADDED_RECIPES", ())}


def pad_fraction(duration_s, recipe: str, recipe_params: Mapping) -> np.ndarray:
    """Share of the recipe's clip that is padding (0 where the recipe does not pad)."""
    d = np.asarray(duration_s, dtype=float)
    if recipe not in padded_recipes():
        return np.zeros(len(d))
    clip = float(recipe_params["clip_seconds"])
    return np.clip(1.0 - d / clip, 0.0, 1.0)


def target_records(manifest: pd.DataFrame, subset: str) -> pd.DataFrame:
    """The target's labelled recordings (one PASCAL set when ``subset``)."""
    rows = manifest if not subset else manifest[manifest["subset"] == subset]
    if rows.empty:
        raise ValueError(f"cross_dataset target {subset!r}: no recordings in the manifest "
                         f"(subsets: {sorted(manifest['subset'].unique())})")
    return rows.reset_index(drop=True)


# The seed of the optional record cap's subsample: one fixed draw per target, the same for every
# model family, so that the families' rows stay paired recording by recording.
CAP_SEED = 0


def _targets(targets: Sequence[tuple[str, str, str]], manifests: Mapping[str, str],
             max_records: int | None = None) -> list:
    """(target, dataset, records) of every target; ``max_records`` (a rehearsal's cap) keeps a
    stratified subsample of each target's records."""
    out = []
    for target, ds, subset in targets:
        m = pd.read_csv(manifests[ds], dtype={"record_id": str, "subset": str}, keep_default_na=False)
        out.append((target, ds, subsample(target_records(m, subset), max_records, CAP_SEED)))
    return out


def _check_recipe(card: dict, features_dir: str | Path) -> None:
    meta = read_meta(features_dir)
    want = card["features"]
    if meta.get("recipe") != want["recipe"] or \
            json.dumps(meta.get("params"), sort_keys=True) != json.dumps(want["params"], sort_keys=True):
        raise ValueError(f"{features_dir}: built with another recipe or parameters than the run's "
                         f"({want['recipe']}, digest {want.get('digest')})")


def _frame(family, variant, seed, target, ds, rows, scores, thr, pad, weights) -> pd.DataFrame:
    return pd.DataFrame({"family": family, "variant": variant, "seed": int(seed), "target": target, "dataset": ds,
                         "record_id": rows["record_id"].to_numpy(), "label": rows["label"].to_numpy().astype(int),
                         "score": np.asarray(scores, dtype=float), "threshold": float(thr), "pad_fraction": pad,
                         "weights": weights})


def score_deep(*, family: str, runs: Sequence[tuple[str, int, str]], targets: Sequence[tuple[str, str, str]],
               features: Mapping[str, str], manifests: Mapping[str, str], recipe_params: Mapping,
               threshold_rule: str | None, out: str | Path, threads: int = 1, device: str | None = None,
               max_records: int | None = None) -> pd.DataFrame:
    """Score AudioFuse or Koike runs (``(variant, seed, run_dir)``) on every target."""
    import torch

    from auscult.cli import load_run
    from auscult.training.binary import predict_scores

    torch.set_num_threads(max(1, int(threads)))
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    t0 = time.perf_counter()
    tgts = _targets(targets, manifests, max_records)
    frames = []
    for variant, seed, run in runs:
        card, model = load_run(run)
        d = card["decision"]
        thr = float(d["thresholds"][threshold_rule]) if threshold_rule and "thresholds" in d else float(d["threshold"])
        inputs = card["features"]["inputs"]
        for target, ds, rows in tgts:
            _check_recipe(card, features[ds])
            _, x = load_arrays(features[ds], inputs, rows["record_id"].tolist())
            s = predict_scores(model, x, batch_size=32, device=device)
            pad = pad_fraction(rows["duration_s"], card["features"]["recipe"], recipe_params)
            weights = (card.get("weights") or {}).get("weights", "scratch")
            frames.append(_frame(family, variant, seed, target, ds, rows, s, thr, pad, weights))
        log.info("%s %s seed %s: scored %d target(s)", family, variant, seed, len(tgts))
    df = pd.concat(frames, ignore_index=True)[COLUMNS]
    write_csv(out, df)
    log.info("%s: %d scores in %.1f s", family, len(df), time.perf_counter() - t0)
    return df


def score_floor(*, runs: Sequence[tuple[str, int, str]], train_features: str | Path,
                targets: Sequence[tuple[str, str, str]], features: Mapping[str, str], manifests: Mapping[str, str],
                floor_params: Mapping, out: str | Path, threads: int = 1,
                max_records: int | None = None) -> pd.DataFrame:
    """Re-fit the floor per seed as its job did, check its validation threshold against the
    job's ``metrics.json`` and score every target."""
    from auscult import layout, registry
    from auscult.evaluation.metrics import choose_threshold
    from auscult.training import floor

    # the carve of the paper under whose protocol the floor was fitted (its ``PROTOCOL``)
    protocol_splits = registry.resolve(registry.get(layout.cross_floor_paper()).PROTOCOL)

    tgts = _targets(targets, manifests, max_records)
    parts = protocol_splits(read_index(train_features), floor_params["split"], floor_params["max_train_records"],
                            floor_params.get("max_eval_records"))
    x = {k: floor.load_features(train_features, df) for k, df in parts.items() if k in ("train", "val")}
    frames = []
    with floor.thread_limit(threads):
        for variant, seed, result_dir in runs:
            model = floor.fit(x["train"], parts["train"]["label"].to_numpy(), floor_params["model"], seed)
            thr = choose_threshold(parts["val"]["label"].to_numpy(), floor.scores(model, x["val"]),
                                   floor_params["threshold_rule"])
            recorded = json.loads((Path(result_dir) / "metrics.json").read_text())["threshold"]["value"]
            if not np.isclose(thr, recorded, rtol=1e-9, atol=1e-12):
                raise ValueError(f"{result_dir}/metrics.json: the re-fitted floor's validation threshold {thr!r} "
                                 f"differs from the recorded {recorded!r} (not the same model)")
            for target, ds, rows in tgts:
                xt = load_arrays(features[ds], [floor.KEY], rows["record_id"].tolist(), dtype="float64")[1][floor.KEY]
                frames.append(_frame("floor", variant, seed, target, ds, rows, floor.scores(model, xt), thr,
                                     np.zeros(len(rows)), "scratch"))
    df = pd.concat(frames, ignore_index=True)[COLUMNS]
    write_csv(out, df)
    return df
