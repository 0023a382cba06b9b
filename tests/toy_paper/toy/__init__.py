"""A toy fourth paper, registered from tests/ (params ``paper_modules: [toy]``): logistic
regression on the floor's MFCC + log-mel statistics of PhysioNet 2016, one training job per
(variant, seed) that also scores the official test records, and one table ``toy_t1``. It
exists to show that a paper needs no edit of shared code: this module, its rule file
(``toy.smk``), its params block (``overlay.yaml``) and its paper values (below)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from auscult import layout
from auscult.papers._shared import data_kind, mentioned_rows, unknown_rows

NAME = "toy"
RULES = Path(__file__).with_name("toy.smk")
FLOOR_TABLES: tuple[str, ...] = ()
FLOOR_FILES: tuple[tuple[str, str], ...] = ()
CROSS_FAMILY = False
CROSS_FLOOR = False
TABLE = f"{NAME}_t1"
# its published values (what paper_values.yaml holds for the built-in papers)
PAPER_VALUES = {TABLE: {"title": "Toy T1: logistic regression on MFCC + log-mel statistics (a test paper)",
                        "source": "none: a test of the paper registry", "rows": {"logreg": {"auc": 0.5}}}}

SCHEMA = {
    "type": "object", "additionalProperties": False,
    "required": ["train_dataset", "features", "split", "seeds", "variants", "tables"],
    "properties": {
        "train_dataset": {"const": "physionet2016"},
        "features": {"const": "floor_stats"},
        "split": {"type": "object", "additionalProperties": False, "required": ["val_fraction", "seed"],
                  "properties": {"val_fraction": {"type": "number"}, "seed": {"type": "integer"}}},
        "seeds": {"type": "array", "minItems": 1, "items": {"type": "integer"}},
        "variants": {"type": "object", "minProperties": 1, "additionalProperties": {
            "type": "object", "additionalProperties": False, "required": ["C"],
            "properties": {"C": {"type": "number", "exclusiveMinimum": 0}}}},
        "tables": {"type": "object", "additionalProperties": False, "required": ["t1"],
                   "properties": {"t1": {"type": "array", "items": {"type": "string"}}}},
    },
}


def variants(config: Mapping) -> list[str]:
    return list(config[NAME]["variants"])


def seeds(config: Mapping, variant: str | None = None) -> list[int]:
    return list(config[NAME]["seeds"])


def table_variants(config: Mapping) -> list[str]:
    return mentioned_rows(config[NAME])


def model_config(config: Mapping, variant: str) -> dict:
    return {"kind": "logreg", "logreg": {"C": config[NAME]["variants"][variant]["C"], "max_iter": 500},
            "class_weight": "balanced"}


def train_slice(config: Mapping, variant: str) -> dict:
    return {"model": model_config(config, variant), "split": config[NAME]["split"]}


def variant_path(config: Mapping, variant: str) -> str:
    return variant


def result_dir(config: Mapping, variant: str, seed: int) -> None:
    return None  # the training job scores the test records


def datasets(config: Mapping) -> list[str]:
    return [config[NAME]["train_dataset"]]


def floor_protocol(config: Mapping) -> dict:
    return {}


def floor_dir(config: Mapping, d: str, seed: int) -> str:
    raise ValueError("the toy paper has no floor")


def cross_variants(config: Mapping) -> list[str]:
    return []


def cross_slice(config: Mapping) -> dict:
    return {}


def check(config: Mapping) -> None:
    if NAME in config:
        unknown_rows(config, NAME, config[NAME]["variants"], "variant(s)")


def cost_jobs(config: Mapping):
    jobs = [{"stage": "train", "variant": v, "tables": {TABLE},
             "path": layout.benchmark_path(layout.run_dir(config, NAME, v, s))}
            for v in table_variants(config) for s in seeds(config)]
    return jobs, [(config[NAME]["train_dataset"], config[NAME]["features"], [TABLE])]


def table_files(config: Mapping) -> dict[str, list[str]]:
    return {f"{NAME}_metrics_{v}": [f"{layout.run_dir(config, NAME, v, s)}/metrics.json" for s in seeds(config)]
            for v in table_variants(config)}


def figure_files(config: Mapping) -> dict[str, list[str]]:
    return {}


def floor_files(config: Mapping) -> dict[str, list[str]]:
    return {}


def table_params(config: Mapping) -> dict:
    p = config[NAME]
    return {"seeds": p["seeds"], "variants": table_variants(config), "datasets": datasets(config),
            "data": data_kind(config, datasets(config))}


def figure_params(config: Mapping | None) -> dict:
    return {}


# ---------------------------------------------------------------- the job and the table
def train(features_dir: str, train_params: Mapping, seed: int, out_metrics: str) -> dict:
    """Fit on the PhysioNet training part (validation carved out, threshold chosen on it)
    and score the official test records."""
    import numpy as np

    from auscult.atomic import write_json
    from auscult.evaluation.metrics import binary_metrics, choose_threshold
    from auscult.features.store import load_arrays, read_index
    from auscult.papers.audiofuse import train as af_protocol
    from auscult.training import floor

    parts = af_protocol.protocol_splits(read_index(features_dir), train_params["split"], None)
    x = {k: load_arrays(features_dir, [floor.KEY], df["record_id"].tolist(), dtype="float64")[1][floor.KEY]
         for k, df in parts.items()}
    y = {k: df["label"].to_numpy() for k, df in parts.items()}
    model = floor.fit(x["train"], y["train"], train_params["model"], seed)
    thr = choose_threshold(y["val"], floor.scores(model, x["val"]), "youden")
    test = binary_metrics(y["test"], floor.scores(model, x["test"]), thr)
    overlap = set(parts["train"]["record_id"]) & set(parts["test"]["record_id"])
    out = {"seed": int(seed), "n_train": len(y["train"]), "n_test": len(y["test"]), "threshold": float(thr),
           "train_test_overlap": len(overlap), "physionet_test": {k: float(v) for k, v in test.items()
                                                                   if isinstance(v, (int, float, np.floating))}}
    write_json(out_metrics, out)
    return out


def build_tables(ctx, pp: Mapping) -> None:
    import json

    from auscult.reporting.tables import Cell

    ctx.paper.update(PAPER_VALUES)
    cells = []
    for v in pp["variants"]:
        runs = [json.loads(open(f).read()) for f in ctx.inputs[f"{NAME}_metrics_{v}"]]
        for metric in ("auc", "mcc"):
            cells.append(Cell(TABLE, v, v, metric, "test, threshold from validation split",
                              [r["physionet_test"][metric] for r in runs],
                              paper=PAPER_VALUES[TABLE]["rows"].get(v, {}).get(metric)))
    prov = ctx.common_provenance(pp, "rule `tables` → tests/toy_paper/toy.py build_tables; runs of rule `toy_train`",
                                 NAME)
    ctx.write_all({TABLE: cells}, {TABLE: ["A test paper: logistic regression on the floor's features."]},
                  {"data": pp["data"], "weights": "scratch", "budget": ctx.budget}, prov, pp)


def build_figures(inputs: Mapping, params: Mapping, tables, out, plots) -> None:
    return None
