"""P3 AST + SAM on ICBHI 2017 (Işık et al., arXiv 2512.22564): an Audio Spectrogram
Transformer fine-tuned with sharpness-aware minimisation on breathing cycles. One training
and one evaluation job per (variant, seed): ``runs/ast_sam/<variant>/<d>/seed<k>`` and
``results/ast_sam/<variant>/<d>/seed<k>`` (evaluation has no parameters of its own: its
results sit under the training digest).

Parameters: ``ast_sam`` in params.yaml; tables: ``auscult.papers.ast_sam.tables``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from auscult import layout
from auscult.papers._shared import mentioned_rows, unknown_rows
from auscult.params import ParamsError, deep_merge

NAME = "ast_sam"
RULES = Path(__file__).with_name("rules.smk")  # included by the Snakefile, as an external paper's

# What this paper brings to the shared tables ("module:attribute", imported on first use);
# its model is the shared AST family
SEGMENT_RECIPES = {"ast_sam": "auscult.papers.ast_sam.features:extract_cycles"}
TRAIN = "auscult.papers.ast_sam.train:run_training"


def describe_run(summary: Mapping) -> str:
    """The training job log's one-line account of a finished run."""
    return (f"clean epoch {summary['selection']['clean']['epoch']}, paper-protocol epoch "
            f"{(summary['selection']['paper'] or {}).get('epoch')}, weights "
            f"{(summary['weights'] or {}).get('status')}")

LABEL = "AST + SAM"
PRETRAINED = True  # AudioSet-pretrained AST (model cards)
SOUND = "lung-sound"
MODEL_FILES = 2  # model.pt and model_paper.pt per run (both selection protocols)
FORECAST = "auscult.papers.ast_sam.forecast"  # its jobs' shapes and workloads (auscult.forecast)
# the library modules its rules run (their code inputs; auscult.codedeps, checked against dvc.yaml)
CODE = {
    "ast_sam_train": ("models/ast", "training/engine", "papers/ast_sam/train", "training/jobs", "splits", "features/store", "evaluation/metrics"),
    "ast_sam_evaluate": ("papers/ast_sam/evaluate", "evaluation/metrics", "training/engine", "splits", "models/ast"),
}
FLOOR_TABLES: tuple[str, ...] = ()  # no reference floor
FLOOR_FILES: tuple[tuple[str, str], ...] = ()
CROSS_FAMILY = False  # a lung-sound model: not scored on the heart-sound targets
CROSS_FLOOR = False


def variant_slice(paper_cfg: Mapping, variant: str) -> dict:
    """{model, training, split} of a variant (its overrides deep-merged)."""
    try:
        overrides = paper_cfg["variants"][variant] or {}
    except KeyError:
        raise ParamsError(f"unknown ast_sam variant {variant!r}; defined: {sorted(paper_cfg['variants'])}") from None
    return {"model": deep_merge(paper_cfg["model"], overrides.get("model", {})),
            "training": deep_merge(paper_cfg["training"], overrides.get("training", {})),
            "split": paper_cfg["split"]}


def variants(config: Mapping) -> list[str]:
    return list(config[NAME]["variants"])


def seeds(config: Mapping, variant: str | None = None) -> list[int]:
    return list(config[NAME]["seeds"])


def table_variants(config: Mapping) -> list[str]:
    return mentioned_rows(config[NAME])


def model_config(config: Mapping, variant: str) -> dict:
    return variant_slice(config[NAME], variant)["model"]


def train_slice(config: Mapping, variant: str) -> dict:
    return variant_slice(config[NAME], variant)


def variant_path(config: Mapping, variant: str) -> str:
    return variant


def result_dir(config: Mapping, variant: str, seed: int) -> str:
    return f"results/{NAME}/{variant}/{layout.train_digest(config, NAME, variant)}/seed{seed}"


def datasets(config: Mapping) -> list[str]:
    return [config[NAME]["train_dataset"]]


def floor_protocol(config: Mapping) -> dict:
    raise NotImplementedError(f"{NAME} has no reference floor")


def floor_dir(config: Mapping, d: str, seed: int) -> str:
    raise NotImplementedError(f"{NAME} has no reference floor")


def cross_variants(config: Mapping) -> list[str]:
    return []


def cross_slice(config: Mapping) -> dict:
    return {}


def check(config: Mapping) -> None:
    unknown_rows(config, NAME, config.get(NAME, {}).get("variants", {}), "variant(s)")
    p = config.get(NAME, {})
    for v in p.get("variants", {}):
        t = variant_slice(p, v)["training"]
        if t["sam"]["enabled"] is True and t["amp"] == "fp16":
            # auscult.papers.ast_sam.train.SAM_FP16 (not imported here: params validation needs no torch)
            raise ParamsError(f"{NAME}.variants.{v}: SAM with amp: fp16 is not supported (its two passes per "
                              "step cannot share one GradScaler step); use amp: bf16")


# ---------------------------------------------------------------- reports
def cost_jobs(config: Mapping) -> tuple[list[dict], list[tuple[str, str, list[str]]]]:
    p, jobs = config[NAME], []
    for v in table_variants(config):
        tables = [f"{NAME}_{t}" for t, rows in p["tables"].items() if v in rows]
        for s in p["seeds"]:
            jobs.append({"stage": "train", "variant": v, "tables": set(tables),
                         "path": layout.benchmark_path(layout.run_dir(config, NAME, v, s))})
            jobs.append({"stage": "evaluate", "variant": v, "tables": set(tables),
                         "path": layout.benchmark_path(result_dir(config, v, s))})
    return jobs, [(p["train_dataset"], p["features"], [f"{NAME}_{t}" for t in p["tables"]])]


def table_files(config: Mapping) -> dict[str, list[str]]:
    """Per-variant metrics over seeds, keyed ``ast_sam_metrics_<variant>``."""
    return {f"{NAME}_metrics_{v}": [f"{result_dir(config, v, s)}/metrics.json" for s in config[NAME]["seeds"]]
            for v in table_variants(config)}


def figure_files(config: Mapping) -> dict[str, list[str]]:
    return table_files(config)


def floor_files(config: Mapping) -> dict[str, list[str]]:
    return {}


def table_params(config: Mapping) -> dict:
    p = config[NAME]
    return {
        "seeds": p["seeds"],
        "tables": p["tables"],
        "variants": table_variants(config),
        "datasets": datasets(config),
        "data_source": config["datasets"][p["train_dataset"]]["source"],
        "max_length": p["model"]["max_length"],
    }


def figure_params(config: Mapping | None) -> dict:
    """Variants of its confusion panels; ``None``: off."""
    return {"t6_variants": table_variants(config) if config is not None else []}


def build_tables(ctx, pp: Mapping) -> None:
    """T6 (``auscult.papers.ast_sam.tables.t6_cells``)."""
    import pandas as pd

    from auscult.datasets import icbhi2017, synthetic_icbhi
    from auscult.papers.ast_sam import tables as report

    seed_metrics = {v: report.load_seed_metrics(ctx.inputs[f"{NAME}_metrics_{v}"]) for v in pp["variants"]}
    raw = ctx.inputs[f"raw_{pp['datasets'][0]}"]
    if pp["data_source"] == "synthetic":  # the demo database: every recording generated
        n = len(icbhi2017.read_split(raw))
        summary = {"synthesised": n, "recordings": n}
    else:
        summary = synthetic_icbhi.synthesis_summary(raw)
    ctx.devices |= {(m.get("train") or {}).get("device_name") or "?" for r in seed_metrics.values() for m in r}
    prov = ctx.common_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.papers.ast_sam.tables.t6_cells; "
                                 "cells from `results/ast_sam/<variant>/<digest>/seed<k>/metrics.json`, rule "
                                 "`ast_sam_evaluate` → auscult.papers.ast_sam.evaluate.run_evaluation (trained by rule "
                                 "`ast_sam_train` → auscult.papers.ast_sam.train.run_training)", NAME)
    tables = {report.T6: report.t6_cells(seed_metrics, pp["tables"]["t6_ablation"], ctx.paper)}
    first = next(iter(seed_metrics.values()))[0]
    trained = first.get("train") or {}  # absent in results written before it was recorded
    used = (f"Cycles used here: {trained.get('n_train', '?')} train / {trained.get('n_val', '?')} validation / "
            f"{first['n_test']} test (ast_sam.split caps them on small budgets).")
    manifest = pd.read_csv(ctx.inputs[f"manifest_{pp['datasets'][0]}"], dtype={"patient_id": str})
    notes = {report.T6: [*report.NOTES, report.input_note(pp["max_length"]), report.split_note(manifest), used]}
    ctx.write_all(tables, notes, {"data": report.data_label([summary]), "weights": report.weights_label(seed_metrics),
                                  "budget": ctx.budget}, prov, pp)


def build_figures(inputs: Mapping, params: Mapping, tables, out, plots) -> None:
    """T6 test confusion matrices (clean protocol), one panel per variant."""
    if not params["t6_variants"]:
        return
    import pandas as pd

    from auscult.papers.ast_sam import tables as report
    from auscult.reporting import figures
    from auscult.reporting.tables import paper_values

    t6 = pd.read_csv(tables / f"{report.T6}.csv")
    seed_metrics = {v: report.load_seed_metrics(inputs[f"{NAME}_metrics_{v}"]) for v in params["t6_variants"]}
    labels = {v: paper_values()[report.T6]["rows"].get(v, {}).get("label", v) for v in params["t6_variants"]}
    figures.confusion_panels(report.confusion_matrices(seed_metrics), out / f"{NAME}_t6_confusion.png", labels=labels,
                             title=f"AST+SAM T6 test confusion, clean protocol ({t6['data'].iloc[0]} data, "
                                   f"{t6['budget'].iloc[0]} budget)")
