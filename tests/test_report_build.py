"""The report driver (auscult.reporting.build) without Snakemake: what rule `tables` reads,
and every table built from fake per-seed results."""

import copy
import json
import zlib

import numpy as np
import pandas as pd
import pytest

from auscult import layout, papers
from auscult.evaluation.metrics import binary_metrics
from auscult.papers.audiofuse import tables as af_report
from auscult.reporting import build, claims


def test_registry_names_every_params_paper(demo):
    assert list(papers.REGISTRY) == ["audiofuse", "koike", "ast_sam"]
    assert [p.NAME for p in papers.enabled(demo)] == [p for p in papers.REGISTRY if p in demo["papers"]]
    off = {**demo, "papers": ["koike"]}
    assert [p.NAME for p in papers.enabled(off)] == ["koike"]
    with pytest.raises(KeyError, match="unknown paper"):
        papers.get("nope")


def test_table_inputs_are_the_layout_paths(demo):
    inputs = build.table_inputs(demo)
    for v in layout.table_variants(demo, "audiofuse"):
        seeds = layout.seeds(demo, "audiofuse", v)
        assert inputs[f"metrics_{v}"] == [f"{layout.result_dir(demo, 'audiofuse', v, s)}/metrics.json" for s in seeds]
        assert inputs[f"predictions_{v}"] == [f"{layout.result_dir(demo, 'audiofuse', v, s)}/predictions.csv"
                                              for s in seeds]
    for v in layout.table_variants(demo, "koike"):
        assert inputs[f"koike_predictions_{v}"] == [f"{layout.run_dir(demo, 'koike', v, s)}/predictions.csv"
                                                    for s in demo["koike"]["seeds"]]
    for v in layout.table_variants(demo, "ast_sam"):
        assert inputs[f"ast_sam_metrics_{v}"] == [f"{layout.result_dir(demo, 'ast_sam', v, s)}/metrics.json"
                                                  for s in demo["ast_sam"]["seeds"]]
    assert inputs["metrics_floor"] == [f"{layout.floor_dir(demo, 'audiofuse', s)}/metrics.json"
                                       for s in demo["audiofuse"]["seeds"]]
    assert inputs["koike_train_summary_floor"][0].startswith("runs/koike/floor/")
    assert {k for k in inputs if k.startswith("cross_")} == {f"cross_{f}" for f in layout.cross_models(demo)}
    for ds in build.paper_datasets(demo):
        assert inputs[f"raw_{ds}"] == layout.raw_dir(demo, ds)
    # every table parameter slice is keyed by an enabled paper; a disabled paper reads nothing
    assert list(build.table_params(demo)["papers"]) == demo["papers"]
    off = {**demo, "papers": ["ast_sam"], "floor": {**demo["floor"], "papers": []}}
    assert not any(k.startswith(("metrics_", "koike_")) for k in build.table_inputs(off))
    assert build.figure_params(off)["t1_variants"] == [] and build.figure_params(off)["t6_variants"]


def test_benchmark_and_log_paths_sit_in_the_stage_folder():
    assert layout.benchmark_path("runs/koike/vgg16/logmel/abcd1234/seed1") == \
        "runs/koike/vgg16/benchmarks/logmel-abcd1234-seed1.tsv"
    assert layout.log_path("runs/audiofuse/{variant}/{dig}/seed{seed}") == "runs/audiofuse/{variant}/logs/{dig}-seed{seed}.log"
    assert layout.benchmark_path("data/manifests/pascal/abcd1234.csv") == "data/manifests/pascal/benchmarks/abcd1234.tsv"
    assert layout.benchmark_path("results/cross_dataset/koike/abcd1234", depth=layout.CROSS_DEPTH) == \
        "results/cross_dataset/benchmarks/koike-abcd1234.tsv"


def _fake_af_results(folder, variant, seeds):
    rng = np.random.default_rng(zlib.crc32(variant.encode()))  # variants differ (identical rows are merged)
    y = np.array([0, 1] * 20)
    mfiles, pfiles = [], []
    for s in seeds:
        metrics, preds = {"seed": s, "n_params": 1000 + s, "train": {"device_name": "cpu", "wall_s": 1.0}}, []
        for proto in af_report.PROTOCOLS:
            score = np.clip(y * 0.3 + rng.random(len(y)) * 0.7, 0, 1)
            metrics[proto] = binary_metrics(y, score, 0.5)
            preds.append(pd.DataFrame({"protocol": proto, "record_id": [f"r{i:02d}" for i in range(len(y))],
                                       "label": y, "score": score, "threshold": 0.5}))
        (folder / f"{variant}{s}.json").write_text(json.dumps(metrics))
        pd.concat(preds).to_csv(folder / f"{variant}{s}.csv", index=False)
        mfiles.append(str(folder / f"{variant}{s}.json"))
        pfiles.append(str(folder / f"{variant}{s}.csv"))
    return mfiles, pfiles


def _fake_af_inputs(cfg, repo_root, folder, history=False):
    """What rule `tables` (and, with ``history``, rule `figures`) hands over for AudioFuse:
    fake per-seed results, learning curves and dataset folders in ``folder``."""
    inputs = {"base_params": str(repo_root / "params.yaml"),
              "claims": claims.claim_files()}
    for v in layout.table_variants(cfg, "audiofuse"):
        seeds = layout.seeds(cfg, "audiofuse", v)
        inputs[f"metrics_{v}"], inputs[f"predictions_{v}"] = _fake_af_results(folder, v, seeds)
        if history:
            inputs[f"history_{v}"] = []
            for s in seeds:
                path = folder / f"history_{v}{s}.csv"
                pd.DataFrame({"epoch": [1, 2], "val_auc": [0.6, 0.7], "val_loss": [0.7, 0.6]}).to_csv(path, index=False)
                inputs[f"history_{v}"].append(str(path))
    for ds in build.paper_datasets(cfg):
        (folder / f"raw_{ds}").mkdir()
        pd.DataFrame({"record_id": [f"r{i:02d}" for i in range(40)]}).to_csv(folder / f"{ds}.csv", index=False)
        inputs[f"raw_{ds}"], inputs[f"manifest_{ds}"] = str(folder / f"raw_{ds}"), str(folder / f"{ds}.csv")
    return inputs


def test_build_all_tables_from_fake_results(demo, repo_root, tmp_path, monkeypatch):
    cfg = copy.deepcopy(demo)
    cfg["papers"], cfg["floor"]["papers"], cfg["cross_dataset"]["models"] = ["audiofuse"], [], []
    inputs = _fake_af_inputs(cfg, repo_root, tmp_path)
    assert set(build.table_inputs(cfg)) <= set(inputs)  # the rule hands over at least this
    out = tmp_path / "reports"
    outputs = {"tables": str(out / "tables"), "metrics": str(out / "metrics.json"),
               "claims_md": str(out / "claims.md"), "claims_csv": str(out / "claims.csv")}
    monkeypatch.chdir(tmp_path)  # benchmark files are looked up relative to the working folder
    frames = build.build_all_tables(cfg, inputs, build.table_params(cfg), outputs)
    assert set(frames) == {af_report.T1, af_report.T2, af_report.T3}
    for name in (*frames, "compute_cost"):
        assert (out / "tables" / f"{name}.csv").is_file() and (out / "tables" / f"{name}.md").is_file()
    assert "deviations from params.yaml" in (out / "tables" / f"{af_report.T1}.md").read_text()
    # titles count the data the rows were scored on (40 fake records), not the paper's 301 / 585
    t1_title = (out / "tables" / f"{af_report.T1}.md").read_text().splitlines()[0]
    assert t1_title.startswith("# AudioFuse T1: in-domain, PhysioNet 2016 (40 test recordings;"), t1_title
    t2_title = (out / "tables" / f"{af_report.T2}.md").read_text().splitlines()[0]
    assert "(40 labelled recordings zero-shot, 40 in the head-retrained test split;" in t2_title, t2_title
    # provenance placeholders are code spans, visible on any Markdown page
    assert "`results/audiofuse/<variant>/<digest>/seed<k>/metrics.json`" in (out / "tables" / f"{af_report.T1}.md").read_text()
    assert set(json.loads((out / "metrics.json").read_text())) == set(frames)
    claims = pd.read_csv(out / "claims.csv")
    assert len(claims) and set(claims["paper"]) == {"audiofuse"}
    assert set(claims["verdict"]) == {"not testable here"}  # demo data are synthetic
    with_rows = claims[claims["id"] != "p1_beats_floor"]  # the floor is off here: nothing to compare
    assert with_rows["reason"].str.contains("real data").all()


def test_build_all_figures_from_the_built_tables(demo, repo_root, tmp_path, monkeypatch):
    """The tables of the previous test's kind, then every AudioFuse figure; the other papers
    (off) draw nothing."""
    cfg = copy.deepcopy(demo)
    cfg["papers"], cfg["floor"]["papers"], cfg["cross_dataset"]["models"] = ["audiofuse"], [], []
    inputs = _fake_af_inputs(cfg, repo_root, tmp_path, history=True)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports"
    build.build_all_tables(cfg, inputs, build.table_params(cfg), {
        "tables": str(out / "tables"), "metrics": str(out / "metrics.json"),
        "claims_md": str(out / "claims.md"), "claims_csv": str(out / "claims.csv")})
    assert set(build.figure_inputs(cfg)) <= set(inputs)
    build.build_all_figures({**inputs, "tables": str(out / "tables")}, build.figure_params(cfg),
                            {"figures": str(out / "figures"), "plots": str(out / "plots")})
    drawn = {p.name for p in (out / "figures").iterdir()}
    assert drawn == {"audiofuse_learning_curves.png", "audiofuse_t1_roc.png", "audiofuse_t3_ablation.png",
                     "audiofuse_t2_domain_shift.png"}
    assert {p.name for p in (out / "plots").iterdir()} >= {f"roc_{v}.csv" for v in cfg["audiofuse"]["tables"]["t1_physionet"]}


def test_table_params_change_with_the_set_of_inputs(demo):
    """A parameter that moves one run to another digest changes rule tables' parameters (its
    inputs are ancient(), so the params trigger is what re-runs it when that run already
    exists), and a parameter no table input depends on changes nothing."""
    import copy

    before = build.table_params(demo)
    moved = copy.deepcopy(demo)
    moved["koike"]["models"]["cnn14"]["training"]["max_epochs"] = 7
    after = build.table_params(moved)
    assert after["input_paths"] != before["input_paths"]
    assert set(after["input_paths"]) ^ set(before["input_paths"]) and all(
        "cnn14" in p or "cross_dataset" in p for p in set(after["input_paths"]) ^ set(before["input_paths"]))
    # the rows' configured budgets (the claims' matched-budget premise) move with it, nothing else
    changed = {v for v, b in after["papers"]["koike"]["budgets"].items() if b != before["papers"]["koike"]["budgets"][v]}
    assert changed == {"cnn14_logmel"}
    for p in (before, after):
        for paper in p["papers"].values():
            paper.pop("budgets", None)
    assert {k: v for k, v in after.items() if k != "input_paths"} == {k: v for k, v in before.items() if k != "input_paths"}
    assert build.input_paths(build.table_inputs(demo)) == before["input_paths"]
