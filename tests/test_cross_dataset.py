"""The cross-dataset table (auscult.reporting.cross_dataset) from fake scores, the padding
note, the heat map, and the job layout (auscult.layout.cross_*)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from auscult.evaluation import cross_dataset as ev
from auscult.reporting import cross_dataset as xd

BOOT = {"n_boot": 50, "seed": 0, "alpha": 0.05}


def fake_scores(rng, family, variant, seeds, target, n, *, separable=True, pad=0.0, thr=0.5):
    y = np.array([0, 1] * (n // 2))
    frames = []
    for s in seeds:
        score = y * 0.6 + rng.uniform(0, 0.5, n) if separable else rng.uniform(0, 1, n)
        frames.append(pd.DataFrame({"family": family, "variant": variant, "seed": s, "target": target,
                                    "dataset": target.split("/")[0], "record_id": [f"r{i:03d}" for i in range(n)],
                                    "label": y, "score": score, "threshold": thr, "pad_fraction": pad}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    return pd.concat([
        fake_scores(rng, "audiofuse", "audiofuse", [42, 43], "pascal/set_a", 20),
        fake_scores(rng, "audiofuse", "audiofuse", [42, 43], "mine", 30, pad=0.7),
        fake_scores(rng, "koike", "cnn14_logmel", [42], "pascal/set_a", 20, separable=False),
        fake_scores(rng, "koike", "cnn14_logmel", [42], "mine", 30, separable=False, pad=0.2),
        fake_scores(rng, "floor", "floor", [42, 43], "mine", 30, thr=0.3),
        fake_scores(rng, "floor", "floor", [42, 43], "pascal/set_a", 20, thr=0.3),
    ], ignore_index=True)


def test_table_rows_metrics_and_order(scores):
    t = xd.build_table(scores, BOOT, targets=["pascal/set_a", "mine"], data="synthetic", budget="demo")
    assert list(t.columns) == xd.COLUMNS
    assert t[["family", "target"]].apply(tuple, axis=1).tolist() == [
        ("audiofuse", "pascal/set_a"), ("audiofuse", "mine"), ("koike", "pascal/set_a"), ("koike", "mine"),
        ("floor", "pascal/set_a"), ("floor", "mine")]
    af = t[(t["family"] == "audiofuse") & (t["target"] == "mine")].iloc[0]
    assert af["auc"] == 1.0 and af["auc_low"] <= af["auc"] <= af["auc_high"]
    assert af["sensitivity"] == 1.0 and af["seeds"] == 2 and af["n"] == 30 and af["n_abnormal"] == 15
    assert af["n_half_padded"] == 30
    kk = t[(t["family"] == "koike") & (t["target"] == "mine")].iloc[0]
    assert kk["n_half_padded"] == 0 and 0.2 < kk["auc"] < 0.8
    assert t[t["family"] == "floor"]["threshold"].eq(0.3).all()
    assert t[t["family"] == "floor"]["model"].iloc[0].startswith("reference floor")


def test_single_class_target_gives_nan_not_crash(scores):
    one = scores[(scores["target"] == "mine") & (scores["label"] == 1)]
    t = xd.build_table(one, BOOT)
    assert t["auc"].isna().all() and t["sensitivity"].notna().all()


def test_seeds_must_score_the_same_records(scores):
    bad = scores.drop(index=scores[(scores["family"] == "audiofuse") & (scores["seed"] == 43)].index[:1])
    with pytest.raises(ValueError, match="different recordings"):
        xd.build_table(bad, BOOT)


def test_padding_note_and_files(scores, tmp_path):
    t = xd.build_table(scores, BOOT, data="synthetic", budget="demo")
    notes = xd.padding_notes(t, {"audiofuse": 5.0, "koike": 60.0, "floor": 5.0})
    assert notes == [n for n in notes if n.startswith("mine: 30 of 30 recordings are more than half padding "
                                                       "under the AudioFuse recipe (5 s clip)")]
    assert len(notes) == 1
    xd.write(tmp_path, t, notes=[*xd.NOTES, *notes], provenance={"rule / code": "test"}, budget="demo")
    md = (tmp_path / "cross_dataset.md").read_text()
    assert "pipeline check at budget demo" in md and "AUC (95 % CI)" in md and "more than half padding" in md
    back = pd.read_csv(tmp_path / "cross_dataset.csv")
    assert len(back) == len(t)
    from auscult.reporting.figures import cross_dataset_heatmap

    cross_dataset_heatmap(back, tmp_path / "h.png", title="t")
    assert (tmp_path / "h.png").stat().st_size > 1000


def test_pad_fraction_per_recipe():
    d = [1.0, 2.5, 5.0, 9.0]
    assert ev.pad_fraction(d, "audiofuse", {"clip_seconds": 5.0}).tolist() == [0.8, 0.5, 0.0, 0.0]
    assert ev.pad_fraction(d, "floor_stats", {"clip_seconds": 5.0}).tolist() == [0, 0, 0, 0]


def test_target_records_picks_a_pascal_set():
    m = pd.DataFrame({"record_id": ["a", "b", "c"], "label": [0, 1, 0], "subset": ["set_a", "set_b", "set_b"],
                      "duration_s": [1.0, 2.0, 3.0]})
    assert ev.target_records(m, "set_b")["record_id"].tolist() == ["b", "c"]
    assert len(ev.target_records(m, "")) == 3
    with pytest.raises(ValueError, match="set_c"):
        ev.target_records(m, "set_c")


def test_a_record_cap_scores_the_same_subsample_for_every_family(tmp_path):
    m = pd.DataFrame({"record_id": [f"r{i:02d}" for i in range(40)], "label": [i % 4 == 0 for i in range(40)],
                      "subset": ["set_a"] * 20 + ["set_b"] * 20, "duration_s": 1.0}).astype({"label": int})
    m.to_csv(tmp_path / "m.csv", index=False)
    targets = [("pascal/set_a", "pascal", "set_a"), ("pascal/set_b", "pascal", "set_b")]
    whole = ev._targets(targets, {"pascal": tmp_path / "m.csv"})
    a = ev._targets(targets, {"pascal": tmp_path / "m.csv"}, max_records=8)
    b = ev._targets(targets, {"pascal": tmp_path / "m.csv"}, max_records=8)
    assert [len(r) for *_, r in whole] == [20, 20] and [len(r) for *_, r in a] == [8, 8]
    for (_, _, ra), (_, _, rb), (_, _, rw) in zip(a, b, whole, strict=True):
        assert ra["record_id"].tolist() == rb["record_id"].tolist()  # one draw, whichever family asks
        assert set(ra["record_id"]) <= set(rw["record_id"]) and ra["label"].sum() == 2  # stratified


def test_layout_jobs_and_digests():
    from auscult import layout
    from auscult.params import load_params

    repo = Path(__file__).resolve().parents[1]
    paper = load_params(repo / "params.yaml")
    demo = load_params(repo / "params.yaml", [repo / "config" / "demo.yaml"])
    assert layout.cross_models(demo) == ["audiofuse", "koike", "floor"]
    assert layout.cross_datasets(paper) == ["pascal"] and not layout.dataset_used(paper, "heart_folder")
    assert layout.dataset_used(demo, "heart_folder")
    assert set(layout.dataset_recipes(demo, "heart_folder")) == {"audiofuse", "koike", "floor_stats"}
    assert "koike" in layout.dataset_recipes(demo, "pascal")
    assert len(layout.cross_runs(demo, "koike")) == 3 and len(layout.cross_runs(demo, "audiofuse")) == 6
    assert len(layout.cross_runs(paper, "koike")) == 15 * 5
    a = layout.cross_scores(demo, "audiofuse")
    other = {**demo, "cross_dataset": {**demo["cross_dataset"], "targets": ["pascal/set_a"]}}
    assert layout.cross_scores(other, "audiofuse") != a
    assert a.startswith("results/cross_dataset/audiofuse/") and a.endswith("/scores.csv")
    # the optional record cap: absent from the slice (and the digest) unless set
    assert "max_records" not in layout.cross_slice(demo, "audiofuse")
    capped = {**demo, "cross_dataset": {**demo["cross_dataset"], "max_records": 8}}
    assert layout.cross_slice(capped, "floor")["max_records"] == 8
    assert layout.cross_scores(capped, "audiofuse") != a
