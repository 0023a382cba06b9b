"""Tables are computed from results; published values only appear beside ours."""

import json

import numpy as np
import pandas as pd
import pytest

from auscult.evaluation.metrics import binary_metrics
from auscult.papers.audiofuse import tables as audiofuse
from auscult.reporting.provenance import deviations
from auscult.reporting.tables import Cell, long_frame, paper_values, render_markdown, write_table

CTX = {"data": "synthetic", "weights": "scratch", "budget": "demo"}


def test_cell_statistics_and_delta():
    rec = Cell("t", "row", "v", "auc", "test", [0.8, 0.9, 1.0], paper=0.86).as_record(CTX)
    assert rec["mean"] == pytest.approx(0.9) and rec["std"] == pytest.approx(0.1)
    assert rec["n_seeds"] == 3 and rec["delta"] == pytest.approx(0.04)
    assert rec["data"] == "synthetic" and rec["budget"] == "demo"


def _fake_results(tmp_path, variant, seeds=(1, 2)):
    """metrics.json + predictions.csv as the evaluation job writes them, from random scores."""
    rng = np.random.default_rng(0)
    y = np.array([0, 1] * 20)
    mfiles, pfiles = [], []
    for s in seeds:
        metrics, preds = {"seed": s, "n_params": 1000 + s, "train": {"device": "cpu", "wall_s": 1.0}}, []
        for proto in audiofuse.PROTOCOLS:
            score = np.clip(y * 0.3 + rng.random(len(y)) * 0.7, 0, 1)
            metrics[proto] = binary_metrics(y, score, 0.5)
            preds.append(pd.DataFrame({"protocol": proto, "record_id": [f"r{i:02d}" for i in range(len(y))],
                                       "label": y, "score": score, "threshold": 0.5}))
        (tmp_path / f"{variant}{s}.json").write_text(json.dumps(metrics))
        pd.concat(preds).to_csv(tmp_path / f"{variant}{s}.csv", index=False)
        mfiles.append(tmp_path / f"{variant}{s}.json")
        pfiles.append(tmp_path / f"{variant}{s}.csv")
    return audiofuse.SeedResults(mfiles, pfiles)


def test_tables_are_computed_from_results(tmp_path):
    variants = ["vit_only", "cnn_only", "audiofuse"]
    results = {v: _fake_results(tmp_path, v) for v in variants}
    model_cfgs = {v: {"vit": {"depth": 6, "heads": 8}} for v in variants}
    tables = audiofuse.build_tables(
        results, {"t1_physionet": variants, "t2_pascal": variants, "t3_vit_ablation": ["audiofuse"]},
        model_cfgs, paper_values(), {"n_boot": 50, "seed": 0, "alpha": 0.05})
    t1 = long_frame(tables[audiofuse.T1], CTX)
    row = t1[(t1["variant"] == "audiofuse") & (t1["metric"] == "auc")
             & (t1["protocol"] == audiofuse.PROTOCOLS["physionet_test"])].iloc[0]
    expected = np.mean([m["physionet_test"]["auc"] for m in results["audiofuse"].metrics])
    assert row["mean"] == pytest.approx(expected)
    assert row["paper"] == pytest.approx(0.8608) and row["delta"] == pytest.approx(expected - 0.8608)
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    t2 = long_frame(tables[audiofuse.T2], CTX)
    assert set(t2["metric"]) == {"auc", "rel_change_%"}
    t3 = long_frame(tables[audiofuse.T3], CTX)
    assert list(t3["row"].unique()) == ["6x8"]
    write_table(tmp_path / "out", "t1", t1, title="T1", notes=["n"], provenance={"git commit": "abc"})
    md = (tmp_path / "out" / "t1.md").read_text()
    assert "0.861" in md and "data = synthetic" in md and "git commit" in md
    assert "Pipeline check at budget demo, not a reproduction" in md
    csv = pd.read_csv(tmp_path / "out" / "t1.csv")
    for col in ["table", "row", "metric", "mean", "std", "n_seeds", "paper", "delta", "data", "weights", "budget"]:
        assert col in csv.columns
    assert (tmp_path / "out" / "t1.tex").read_text().startswith("%")


def test_markdown_marks_missing_paper_values():
    df = long_frame([Cell("t", "r", "v", "mcc", "test, threshold 0.5", [0.1, 0.3]),
                     Cell("t", "r2", "v2", "mcc", "test", [0.4, 0.5], paper=0.5),
                     Cell("t", "r", "v", "set_id_auc", "test", [0.5, 0.6])], CTX)
    md = render_markdown(df, title="x", notes=[], provenance={})
    assert "0.200 ± 0.141" in md and "| – |" in md
    # a metric the paper never reports gets no paper column
    assert "mcc: paper (Δ)" in md and "set_id_auc: paper" not in md


def test_one_seed_has_no_spread_and_flags_show():
    df = long_frame([Cell("t", "r", "v", "auc", "test", [0.7], flag="constant predictor")], CTX)
    assert np.isnan(df["std"].iloc[0]) and df["n_seeds"].iloc[0] == 1
    md = render_markdown(df, title="x", notes=[], provenance={})
    assert "0.700 ⚠ constant predictor" in md and "test sampling only" in md


def test_deviations_list_budget_changes():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 3}
    assert deviations({"a": {"b": 2, "c": [1, 2]}, "d": 3}, base) == ["a.b: 1 → 2"]


def test_metric_decimals_and_paper_budget_has_no_banner():
    from auscult.reporting.tables import budget_banner, metric_digits

    assert [metric_digits(m) for m in ("auc", "mcc", "f1", "uar_%", "rel_change_%", "Score_any", "params")] \
        == [3, 3, 3, 1, 1, 1, 0]
    assert budget_banner("paper") is None and "budget cpu" in budget_banner("cpu")
    df = long_frame([Cell("t", "r", "v", "uar_%", "log-mel", [61.23, 65.0])], {**CTX, "budget": "paper"})
    md = render_markdown(df, title="x", notes=[], provenance={})
    assert "63.1 ± 2.7" in md and "not a reproduction" not in md


def test_t2_has_auc_within_each_pascal_set(tmp_path):
    variants = ["vit_only", "cnn_only", "audiofuse"]
    results = {v: _fake_results(tmp_path, v) for v in variants}
    ids = [f"r{i:02d}" for i in range(40)]
    manifest = pd.DataFrame({"record_id": ids, "subset": ["set_a"] * 16 + ["set_b"] * 24,
                             "sample_rate": [44100] * 16 + [4000] * 24, "label": [0, 1] * 20})
    subsets = audiofuse.pascal_subsets(manifest)
    assert subsets["set_a"] == set(ids[:16])
    cells = audiofuse.t2_cells(results, variants, paper_values(), {"n_boot": 50, "seed": 0, "alpha": 0.05},
                               subsets)
    t2 = long_frame(cells, CTX)
    assert {"auc_set_A", "auc_set_B"} <= set(t2["metric"])
    row = t2[(t2["variant"] == "cnn_only") & (t2["metric"] == "auc_set_A")
             & (t2["protocol"] == audiofuse.PROTOCOLS["pascal_zero_shot"])].iloc[0]
    from auscult.evaluation.metrics import roc_auc

    expected = []
    for p in results["cnn_only"].predictions:
        d = p[(p["protocol"] == "pascal_zero_shot") & p["record_id"].isin(ids[:16])]
        expected.append(roc_auc(d["label"], d["score"]))
    assert row["mean"] == pytest.approx(np.mean(expected))
    assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    note = audiofuse.subset_note(manifest)
    assert "set A: 16 recordings at 44.1 kHz, 50 % abnormal" in note and "set B: 24" in note


def test_deviations_only_for_the_tables_own_paper():
    from auscult.reporting.provenance import paper_prefixes

    base = {"budget": "paper", "audiofuse": {"features": "audiofuse", "seeds": [1, 2, 3]},
            "koike": {"seeds": [1, 2]}, "features": {"audiofuse": {"sr": 1}, "koike": {"sr": 2}},
            "datasets": {"physionet2016": {"source": "canonical"}}}
    now = {"budget": "cpu", "audiofuse": {"features": "audiofuse", "seeds": [1]}, "koike": {"seeds": [1]},
           "features": {"audiofuse": {"sr": 1}, "koike": {"sr": 3}},
           "datasets": {"physionet2016": {"source": "canonical"}}}
    keys = paper_prefixes(now, "audiofuse", ["physionet2016"])
    assert deviations(now, base, keys) == ["audiofuse.seeds: [1, 2, 3] → [1]", "budget: paper → cpu"]


def test_provenance_names_no_machine_path():
    from auscult.reporting.provenance import public_origin

    assert public_origin("mirror", "/work/shared/data/physionet2016") == "$AUSCULT_DATA_MIRROR/physionet2016"
    assert public_origin("url", "['https://x/y.zip']") == "['https://x/y.zip']"
    assert "/home" not in public_origin("synthetic", "/home/me/data/pascal")


def test_koike_note_finds_the_papers_own_inconsistency():
    from auscult.papers.koike import tables as koike

    note = koike.paper_consistency_note(paper_values())
    assert "ResNeXt-101 + WSL logmel: 71.0 vs 61.2" in note


def test_skipped_records_reach_the_table_notes(tmp_path):
    from auscult.reporting.provenance import skipped_note

    manifest = tmp_path / "abc.csv"
    manifest.write_text("record_id\n")
    assert skipped_note("physionet2016", manifest) is None
    (tmp_path / "abc.skipped.csv").write_text("record_id,path,kind,problem\n"
                                              "b0007,training-b/b0007.wav,bad_audio,1 NaN/Inf sample(s)\n")
    note = skipped_note("physionet2016", manifest)
    assert "1 record(s) of physionet2016" in note and "b0007 (bad_audio: 1 NaN/Inf sample(s))" in note
