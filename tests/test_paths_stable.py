"""Every artifact path and digest of every budget, against a committed fixture.

A refactor of the layout (where paths are built, which module owns a paper's parameter
slices) must leave every path identical: a changed digest would retrain or re-evaluate
everything, and orphan what is cached. ``tests/fixtures/paths_stable.json`` holds the paths
of the demo, quick, cpu and paper budgets; regenerate it (only for an intended change of
paths) with ``python tests/test_paths_stable.py --write``.

Canonical datasets are digested without a data mirror and without any acquired copy (the
dump runs in an empty folder), so the fixture does not depend on the machine.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "paths_stable.json"
BUDGETS = {"demo": ["config/demo.yaml"], "quick": ["config/quick.yaml"], "cpu": ["config/cpu.yaml"], "paper": []}
PAPER_NAMES = ("audiofuse", "koike", "ast_sam")
ENV = ("AUSCULT_DATA_MIRROR", "AUSCULT_HEART_FOLDER")


def dump_budget(config: dict) -> dict:
    from auscult import layout
    from auscult.papers import audiofuse
    from auscult.reporting import compute_cost

    out: dict = {"datasets": {}, "features": {}, "papers": {}, "floor": {}, "cross": {}}
    for ds in config["datasets"]:
        out["datasets"][ds] = {"raw": layout.raw_dir(config, ds), "manifest": layout.manifest_path(config, ds),
                               "recipes": layout.dataset_recipes(config, ds), "used": layout.dataset_used(config, ds)}
        for recipe in config["features"]:
            out["features"][f"{ds}/{recipe}"] = layout.features_dir(config, ds, recipe)
    for paper in PAPER_NAMES:
        p = config[paper]
        entry: dict = {"features": layout.paper_features_dir(config, paper),
                       "table_variants": layout.table_variants(config, paper), "variants": {}}
        for v in layout.variants(config, paper):
            row = {"train_digest": layout.train_digest(config, paper, v), "train_slice": layout.train_slice(config, paper, v),
                   "model_config": layout.variant_model_config(config, paper, v),
                   "seeds": layout.seeds(config, paper, v), "runs": {}, "checkpoints": {}, "results": {}}
            if paper == "audiofuse":
                row["eval_digest"] = audiofuse.eval_digest(config, v)
            for s in layout.seeds(config, paper, v):
                row["runs"][s] = layout.run_dir(config, paper, v, s)
                row["checkpoints"][s] = layout.checkpoint_dir(config, paper, v, s)
                if paper == "audiofuse":
                    row["results"][s] = layout.result_dir(config, paper, v, s)
                elif paper == "ast_sam":
                    row["results"][s] = layout.result_dir(config, paper, v, s)
            entry["variants"][v] = row
        out["papers"][paper] = entry
        if paper in ("audiofuse", "koike"):
            out["floor"][paper] = {"enabled": paper in layout.floor_papers(config),
                                   "digest": layout.floor_digest(config, paper),
                                   "slice": layout.floor_slice(config, paper),
                                   "dirs": [layout.floor_dir(config, paper, s) for s in p["seeds"]]}
    out["eval_slice"] = audiofuse.eval_slice(config)
    for family in ("audiofuse", "koike", "floor"):
        out["cross"][family] = {"scores": layout.cross_scores(config, family),
                                "runs": [list(r) for r in layout.cross_runs(config, family)]}
    out["cross_models"] = layout.cross_models(config)
    out["cross_datasets"] = layout.cross_datasets(config)
    out["benchmarks"] = [{**j, "tables": sorted(j["tables"])} for j in compute_cost.jobs(config)]
    return out


def stage_files(config: dict) -> dict:
    """The file lists of the rules without outputs (each DVC stage's target), from
    auscult.layout: every seed's run, result and floor files, every used feature cache."""
    from auscult import layout

    out: dict = {"runs": {}, "results": {}, "floor": {}, "features": {}}
    for paper in PAPER_NAMES:
        out["runs"][paper] = {v: layout.variant_run_files(config, paper, v, ("model.pt", "x"))
                              for v in layout.variants(config, paper)}
        if paper != "koike":
            out["results"][paper] = {v: layout.variant_result_files(config, paper, v, ("metrics.json",))
                                     for v in layout.variants(config, paper)}
    for paper in ("audiofuse", "koike"):
        out["floor"][paper] = layout.floor_seed_files(config, paper, ("predictions.csv",))
    for ds in config["datasets"]:
        out["features"][ds] = layout.dataset_features_dirs(config, ds)
    return out


def dump_all(dump=dump_budget) -> dict:
    """Every budget's paths (``dump`` of each budget's config), digested in an empty folder
    without mirror or folder env."""
    from auscult import layout
    from auscult.params import load_params

    saved = {k: os.environ.pop(k, None) for k in ENV}
    cwd = os.getcwd()
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            configs = {b: load_params(REPO / "params.yaml", [REPO / o for o in overlays])
                       for b, overlays in BUDGETS.items()}
            os.chdir(tmp)
            layout._LISTINGS.clear()
            return json.loads(json.dumps({b: dump(c) for b, c in configs.items()}, default=str))
    finally:
        os.chdir(cwd)
        for k, v in saved.items():
            if v is not None:
                os.environ[k] = v


def test_every_path_and_digest_is_unchanged():
    expected = json.loads(FIXTURE.read_text())
    got = dump_all()
    for budget in BUDGETS:
        for section in expected[budget]:
            assert got[budget][section] == expected[budget][section], f"{budget}: {section} changed"
        assert got[budget] == expected[budget], budget


def test_stage_file_lists_are_the_stable_paths():
    """What the per-variant, floor and feature aggregate rules wait for is built from the
    fixture's paths: each seed's folder (in seed order) with each name, each used recipe."""
    expected = json.loads(FIXTURE.read_text())
    got = dump_all(stage_files)
    for budget, fix in expected.items():
        g = got[budget]
        for paper in PAPER_NAMES:
            for v, row in fix["papers"][paper]["variants"].items():
                runs = [row["runs"][str(s)] for s in row["seeds"]]
                assert g["runs"][paper][v] == [f"{r}/{n}" for r in runs for n in ("model.pt", "x")], (budget, v)
                if paper != "koike":
                    assert g["results"][paper][v] == [f"{row['results'][str(s)]}/metrics.json"
                                                      for s in row["seeds"]], (budget, v)
        for paper, floor in fix["floor"].items():
            want = [f"{d}/predictions.csv" for d in floor["dirs"]] if floor["enabled"] else []
            assert g["floor"][paper] == want, (budget, paper)
        for ds, entry in fix["datasets"].items():
            assert g["features"][ds] == [fix["features"][f"{ds}/{r}"] for r in entry["recipes"]], (budget, ds)


if __name__ == "__main__":
    data = dump_all()
    if "--write" in sys.argv:
        FIXTURE.parent.mkdir(parents=True, exist_ok=True)
        FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FIXTURE}")
    else:
        print(json.dumps(data, indent=1, sort_keys=True))
