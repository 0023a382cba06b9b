"""A toy fourth paper, one folder shaped like a built-in one (``src/auscult/papers/<name>/``)
and registered from outside the package (params ``paper_modules: [toy]``, this folder's parent
on ``PYTHONPATH``): a small numpy MLP of its own (:mod:`toy.model`) on the floor's MFCC +
log-mel statistics of PhysioNet 2016, under its own protocol (:mod:`toy.protocol`: train /
validation carved from the official training records, threshold on validation, official test
records scored), one training job per (variant, seed), and one table ``toy_t1`` with the
reference floor's row (:mod:`toy.floor`, the same protocol) and checked claims.

What the folder holds: this module (the hooks), ``rules.smk`` (its rules), ``schema.yaml``
(its params block), ``paper_values.yaml`` and ``claims.yaml``, ``dvc.yaml`` (its DVC stages),
and its model, protocol, training and floor modules. Its params block: ``../overlay.yaml``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from auscult import layout
from auscult.papers._shared import (
    data_kind,
    mentioned_rows,
    reserved_floor,
    row_budgets,
    unknown_rows,
)
from auscult.params import deep_merge

NAME = "toy"
RULES = Path(__file__).with_name("rules.smk")  # included by the Snakefile, as a built-in paper's
TRAIN = "toy.train:train"  # what its rule toy_train runs
FLOOR = "toy.floor:run_floor"  # the reference floor under its protocol (rule floor_toy_run)
FLOOR_OUTPUTS = ("metrics.json", "predictions.csv")  # what its floor job writes, as a training job
FLOOR_TABLES = ("t1",)  # its tables that get the floor's row
FLOOR_FILES = (("metrics", "json"), ("predictions", "csv"))
TABLE = f"{NAME}_t1"
# CROSS_FAMILY, CROSS_FLOOR, figure hooks: absent (no cross-dataset runs, no figures)


# ---------------------------------------------------------------- variants and parameter slices
def variants(config: Mapping) -> list[str]:
    return list(config[NAME]["variants"])


def seeds(config: Mapping, variant: str | None = None) -> list[int]:
    return list(config[NAME]["seeds"])


def table_variants(config: Mapping) -> list[str]:
    return mentioned_rows(config[NAME])


def model_config(config: Mapping, variant: str) -> dict:
    """The shared MLP settings (``toy.model``) with the variant's overrides."""
    return deep_merge(config[NAME]["model"], config[NAME]["variants"][variant])


def train_slice(config: Mapping, variant: str) -> dict:
    p = config[NAME]
    return {"model": model_config(config, variant), "split": p["split"], "max_train_records": p["max_train_records"],
            "threshold_rule": p["threshold_rule"]}


def variant_path(config: Mapping, variant: str) -> str:
    return variant


def result_dir(config: Mapping, variant: str, seed: int) -> None:
    return None  # the training job scores the test records


def datasets(config: Mapping) -> list[str]:
    return [config[NAME]["train_dataset"]]


def check(config: Mapping) -> None:
    if NAME in config:
        unknown_rows(config, NAME, config[NAME]["variants"], "variant(s)")
        reserved_floor(NAME, "variants", config[NAME]["variants"])


# ---------------------------------------------------------------- reference floor
def floor_protocol(config: Mapping) -> dict:
    """What the floor reads of this protocol besides split and caps: the threshold rule."""
    return {"threshold_rule": config[NAME]["threshold_rule"]}


def floor_dir(config: Mapping, d: str, seed: int) -> str:
    """``runs/toy/floor/<d>/seed<k>`` (metrics.json, predictions.csv, as a training job)."""
    return f"runs/{NAME}/{layout.FLOOR}/{d}/seed{seed}"


def floor_files(config: Mapping) -> dict[str, list[str]]:
    return {f"{NAME}_{n}_{layout.FLOOR}": [f"{floor_dir(config, layout.floor_digest(config, NAME), s)}/{n}.{ext}"
                                           for s in seeds(config)] for n, ext in FLOOR_FILES}


# ---------------------------------------------------------------- reports
def cost_jobs(config: Mapping):
    jobs = [{"stage": "train", "variant": v, "tables": {TABLE},
             "path": layout.benchmark_path(layout.run_dir(config, NAME, v, s))}
            for v in table_variants(config) for s in seeds(config)]
    return jobs, [(config[NAME]["train_dataset"], config[NAME]["features"], [TABLE])]


def table_files(config: Mapping) -> dict[str, list[str]]:
    """Per-variant run files over seeds, keyed ``toy_metrics_<v>``, ``toy_predictions_<v>``."""
    return {f"{NAME}_{n}_{v}": [f"{layout.run_dir(config, NAME, v, s)}/{n}.{ext}" for s in seeds(config)]
            for v in table_variants(config) for n, ext in FLOOR_FILES}


def table_params(config: Mapping) -> dict:
    p = config[NAME]
    return {"seeds": p["seeds"], "variants": table_variants(config), "tables": p["tables"],
            "datasets": datasets(config), "data": data_kind(config, datasets(config)),
            "floor": NAME in layout.floor_papers(config), "budgets": row_budgets(config, NAME, table_variants(config))}


def build_tables(ctx, pp: Mapping) -> None:
    """T1 (:func:`toy.tables.build`), with the floor's row; its runs registered for the claims."""
    from auscult.reporting import floor
    from toy import tables

    runs = {v: tables.SeedRuns(ctx.inputs[f"{NAME}_metrics_{v}"], ctx.inputs[f"{NAME}_predictions_{v}"])
            for v in pp["variants"]}
    tables_cfg, notes = dict(pp["tables"]), list(tables.NOTES)
    if pp["floor"]:  # the reference floor: one more row, under the same protocol
        runs[layout.FLOOR] = tables.SeedRuns(ctx.inputs[f"{NAME}_metrics_{layout.FLOOR}"],
                                             ctx.inputs[f"{NAME}_predictions_{layout.FLOOR}"])
        tables_cfg = floor.with_floor(tables_cfg, list(FLOOR_TABLES))
        notes.append(floor.note(runs[layout.FLOOR].metrics[0]["model"], "the toy protocol (the same "
                                "train / validation / test records, threshold from validation)"))
    cells = tables.cells(runs, tables_cfg["t1"], ctx.paper[TABLE])
    ctx.add_runs({TABLE: {v: {tables.PROTOCOL: runs[v].paired()} for v in tables_cfg["t1"]}},
                 {TABLE: pp["budgets"]})
    devices = {m.get("device_name", "?") for r in runs.values() for m in r.metrics}
    wall = sum(m.get("wall_s", 0) for r in runs.values() for m in r.metrics)
    prov = ctx.run_provenance(pp, "rule `tables` → toy.build_tables; runs of rules `toy_train` (toy.train) and "
                              "`floor_toy_run` (toy.floor)", NAME, devices, f"training {wall:.1f} s")
    ctx.write_all({TABLE: cells}, {TABLE: notes}, {"data": pp["data"], "weights": "scratch", "budget": ctx.budget},
                  prov, pp)
