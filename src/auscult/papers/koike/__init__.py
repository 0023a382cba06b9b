"""P2 Koike et al. 2020: ImageNet CNNs (log-mel or linear spectrogram) and CNN14 on the
stratified 3:1:1 split of PhysioNet 2016. One run per (model, input, seed) selects its
checkpoint on the dev part and scores dev and test: ``runs/koike/<model>/<input>/<d>/seed<k>``
(a variant is ``<model>_<input>``; tables list models, each bringing all its inputs). One
training job (rule ``koike_run_<model>``) trains a model's runs on every input for one seed,
one after the other, in one process (:func:`job_artifact`).

Parameters: ``koike`` in params.yaml; tables: ``auscult.papers.koike.tables``.
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
from auscult.params import ParamsError, deep_merge

NAME = "koike"
RULES = Path(__file__).with_name("rules.smk")  # included by the Snakefile, as an external paper's

# What this paper brings to the shared tables ("module:attribute", imported on first use);
# its models are the shared CNN14 and ImageNet families
FEATURE_RECIPES = {"koike": "auscult.papers.koike.features:extract"}
TRAIN = "auscult.papers.koike.train:run_training"


def describe_run(summary: Mapping) -> str:
    """The training job log's one-line account of a finished run."""
    return f"best epoch {summary.get('best_epoch')}, weights {summary['weights']}"


LABEL = "Koike"
PRETRAINED = True  # its published models started from AudioSet/ImageNet weights (model cards)
SOUND = "heart-sound"
PADDED_RECIPES = ("koike",)
FLOOR = "auscult.papers.koike.floor:run_floor"  # the reference floor under this paper's protocol
FLOOR_OUTPUTS = ("split.csv", "predictions.csv", "train_summary.json")  # what its floor job writes (rule floor_koike_run)
FORECAST = "auscult.papers.koike.forecast"  # its jobs' shapes and workloads (auscult.forecast)
# the library modules its rules run (their code inputs; auscult.codedeps, checked against dvc.yaml)
CODE = {
    "koike_run_*": ("models/cnn14", "models/imagenet", "models/weights", "training/engine",
                   "training/binary", "papers/koike/train", "training/jobs", "splits", "features/store"),
}
FLOOR_TABLES = ("t4_uar", "t5_spec_sens_f1")
FLOOR_FILES = (("train_summary", "json"), ("predictions", "csv"))
CROSS_FAMILY = True
CROSS_FLOOR = False


# ---------------------------------------------------------------- variants and parameter slices
def variant_table(paper_cfg: Mapping) -> dict[str, tuple[str, str]]:
    """Variants ``<model>_<input>`` -> (model, input), in params order."""
    return {f"{m}_{inp}": (m, inp) for m, spec in paper_cfg["models"].items() for inp in spec["inputs"]}


def variant_model(paper_cfg: Mapping, variant: str) -> dict:
    """The model config of one variant: the model's config plus the input it reads
    (ImageNet networks; CNN14 always reads the waveform and computes its own log-mel)."""
    try:
        model, inp = variant_table(paper_cfg)[variant]
    except KeyError:
        raise ParamsError(f"unknown koike variant {variant!r}; defined: "
                          f"{sorted(variant_table(paper_cfg))}") from None
    cfg = dict(paper_cfg["models"][model]["config"])
    if cfg["arch"] == "imagenet":
        cfg["input"] = inp
    return cfg


def variants(config: Mapping) -> list[str]:
    return list(variant_table(config[NAME]))


def seeds(config: Mapping, variant: str | None = None) -> list[int]:
    return list(config[NAME]["seeds"])


def table_variants(config: Mapping) -> list[str]:
    """Every variant of a model any table lists."""
    seen = mentioned_rows(config[NAME])
    return [v for v, (m, _) in variant_table(config[NAME]).items() if m in seen]


def model_config(config: Mapping, variant: str) -> dict:
    return variant_model(config[NAME], variant)


def train_slice(config: Mapping, variant: str) -> dict:
    """Exactly the parameters a training job uses (seed excluded); a model may override
    training settings (e.g. its own lr) and its train cap. Training also scores the test
    part, so the evaluation caps and the weights are here too."""
    p = config[NAME]
    spec = p["models"][variant_table(p)[variant][0]]
    return {"model": model_config(config, variant),
            "training": deep_merge(p["training"], spec.get("training", {})),
            "split": p["split"],
            "max_train_records": spec.get("max_train_records", p["max_train_records"]),
            "max_eval_records": p["max_eval_records"],
            "weights": p["weights"]}


def variant_path(config: Mapping, variant: str) -> str:
    """``<model>/<input>``, so that one DVC stage owns a model's runs on both inputs."""
    model, inp = variant_table(config[NAME])[variant]
    return f"{model}/{inp}"


def model_variants(config: Mapping, model: str) -> list[str]:
    """The variants one training job runs: ``<model>_<input>`` for each input of ``model``."""
    return [v for v, (m, _) in variant_table(config[NAME]).items() if m == model]


def job_artifact(config: Mapping, model: str, seed) -> str:
    """``runs/koike/<model>/<input>-<d>[-<input>-<d>]/seed<k>``: names the log and benchmark of
    the job that trains ``model``'s runs for ``seed`` (``layout.log_path`` / ``benchmark_path``:
    ``runs/koike/<model>/{logs,benchmarks}/<input>-<d>-...-seed<k>``), so they change with any
    of its runs' digests. Not a folder; ``seed`` may be the ``{seed}`` wildcard."""
    tag = "-".join(f"{variant_table(config[NAME])[v][1]}-{layout.train_digest(config, NAME, v)}"
                   for v in model_variants(config, model))
    return f"runs/{NAME}/{model}/{tag}/seed{seed}"


def train_job(config: Mapping, variant: str) -> str:
    """The job that trains ``variant``: its model's (``layout.train_job``)."""
    return variant_table(config[NAME])[variant][0]


def train_job_artifact(config: Mapping, variant: str, seed) -> str:
    """:func:`job_artifact` of the job that trains ``variant`` (``layout.train_benchmark``)."""
    return job_artifact(config, train_job(config, variant), seed)


def result_dir(config: Mapping, variant: str, seed: int) -> None:
    """None: the training job scores the test part (its run folder holds predictions.csv)."""
    return None


def datasets(config: Mapping) -> list[str]:
    return [config[NAME]["train_dataset"]]


# ---------------------------------------------------------------- scheduling
# Forward GFLOPs of each ImageNet network on one 224x224 image: torchvision's weight metadata
# (``_ops``), copied so that building the DAG needs no torch import; tests/test_koike_protocol.py
# asserts it equal to torchvision's. A scheduling hint only, never part of a result.
GFLOPS_224 = {"vgg16": 15.47, "vgg19": 19.632, "mobilenet_v2": 0.301, "resnet18": 1.814,
              "resnext50_32x4d": 4.23, "resnext101_32x8d": 16.414, "resnext101_32x8d_wsl": 16.414}


def schedule_cost(config: Mapping, variant: str) -> float:
    """A relative cost of training ``variant`` (GFLOPs x input bins x training records x
    epochs), to start the costliest Koike runs first so that the last ones to finish are short.
    A network without a figure (CNN14) or a run without a record cap counts as the costliest."""
    sl = train_slice(config, variant)
    net = sl["model"].get("name")
    if net is None or sl["max_train_records"] is None:
        return float("inf")
    gflops = GFLOPS_224[net]
    feat = config["features"][config[NAME]["features"]]
    bins = feat["n_mels"] if sl["model"]["input"] == "logmel" else feat["n_fft"] // 2 + 1
    return gflops * bins * int(sl["max_train_records"]) * int(sl["training"]["max_epochs"])


def priority(config: Mapping, model: str) -> float:
    """Snakemake priority of a Koike training job (one model, every input), in (-2, -1):
    after every other ready job (a Koike run is a leaf, while features and AudioFuse/AST+SAM
    training start chains of evaluation jobs), the models the cross-dataset table scores
    first (its scoring job then overlaps the others), each group costliest first (the sum of
    its runs' :func:`schedule_cost`)."""
    runs = model_variants(config, model)
    cost = sum(schedule_cost(config, v) for v in runs)
    within = 0.99 if cost == float("inf") else 0.98 * cost / (cost + 1e5)
    cross = set(runs) & set(cross_variants(config))
    return (-1.5 if cross else -2.0) + 0.5 * within


# ---------------------------------------------------------------- reference floor, cross-dataset
def floor_protocol(config: Mapping) -> dict:
    return {"max_eval_records": config[NAME]["max_eval_records"]}


def floor_dir(config: Mapping, d: str, seed: int) -> str:
    """``runs/koike/floor/<recipe>/<d>/seed<k>`` (train_summary.json, predictions.csv,
    split.csv, as a training job)."""
    return f"runs/{NAME}/{layout.FLOOR}/{config['floor']['features']}/{d}/seed{seed}"


def cross_variants(config: Mapping) -> list[str]:
    """Every table variant, or those of ``cross_dataset.koike_models``."""
    only = config["cross_dataset"]["koike_models"]
    table = variant_table(config[NAME])
    return [v for v in table_variants(config) if only is None or table[v][0] in only]


def cross_slice(config: Mapping) -> dict:
    return {}


def check(config: Mapping) -> None:
    kk = config.get(NAME, {})
    models = kk.get("models", {})
    unknown = [m for m in (config.get("cross_dataset", {}).get("koike_models") or []) if m not in models]
    if unknown:
        raise ParamsError(f"cross_dataset.koike_models: unknown model(s) {unknown}; defined in koike.models: "
                          f"{sorted(models)}")
    unknown_rows(config, NAME, models, "model(s)")
    for name, m in models.items():
        if m.get("config", {}).get("arch") == "cnn14" and m.get("inputs") != ["logmel"]:
            raise ParamsError(f"koike.models.{name}.inputs: CNN14 computes its own log-mel from "
                              f"the waveform; its inputs must be [logmel], got {m.get('inputs')}")
    reserved_floor(NAME, "models", models)


# ---------------------------------------------------------------- reports
def cost_jobs(config: Mapping) -> tuple[list[dict], list[tuple[str, str, list[str]]]]:
    p, jobs = config[NAME], []
    models = {m for rows in p["tables"].values() for m in rows}
    for m in p["models"]:  # one job per model and seed: all its inputs (job_artifact)
        if m not in models:
            continue
        tables = [f"{NAME}_{t}" for t, rows in p["tables"].items() if m in rows]
        for s in p["seeds"]:
            jobs.append({"stage": "train", "variant": m, "tables": set(tables),
                         "path": layout.benchmark_path(job_artifact(config, m, s))})
    return jobs, [(p["train_dataset"], p["features"], [f"{NAME}_{t}" for t in p["tables"]])]


def _run_files(config: Mapping, name: str) -> dict[str, list[str]]:
    return {f"{NAME}_{name.split('.')[0]}_{v}": [f"{layout.run_dir(config, NAME, v, s)}/{name}"
                                                 for s in config[NAME]["seeds"]]
            for v in table_variants(config)}


def table_files(config: Mapping) -> dict[str, list[str]]:
    """Per-variant run files over seeds, keyed ``koike_train_summary_<v>``, ``koike_predictions_<v>``."""
    return {**_run_files(config, "train_summary.json"), **_run_files(config, "predictions.csv")}


def figure_files(config: Mapping) -> dict[str, list[str]]:
    return _run_files(config, "history.csv")


def floor_files(config: Mapping) -> dict[str, list[str]]:
    return {f"{NAME}_{n}_{layout.FLOOR}": [f"{floor_dir(config, layout.floor_digest(config, NAME), s)}/{n}.{ext}"
                                           for s in config[NAME]["seeds"]] for n, ext in FLOOR_FILES}


def table_params(config: Mapping) -> dict:
    p = config[NAME]
    return {
        "seeds": p["seeds"],
        "tables": p["tables"],
        "variants": table_variants(config),
        "models": {m: spec["inputs"] for m, spec in p["models"].items()},
        "bootstrap": p["bootstrap"],
        "datasets": datasets(config),
        "data": data_kind(config, datasets(config)),
        "floor": config["floor"]["features"] if NAME in layout.floor_papers(config) else None,
        "budgets": row_budgets(config, NAME, table_variants(config)),
    }


def figure_params(config: Mapping | None) -> dict:
    """Variants of its learning curves; ``None``: off."""
    return {"koike_variants": table_variants(config) if config is not None else []}


def build_tables(ctx, pp: Mapping) -> None:
    """T4, T5 (``auscult.papers.koike.tables.build_tables``), with the floor as one more model."""
    from auscult.papers.koike import tables as koike
    from auscult.reporting import floor

    FLOOR = layout.FLOOR
    runs = {v: koike.KoikeRuns(ctx.inputs[f"{NAME}_train_summary_{v}"], ctx.inputs[f"{NAME}_predictions_{v}"])
            for v in pp["variants"]}
    models, tables_cfg, floor_notes = pp["models"], pp["tables"], []
    if pp["floor"]:  # the reference floor: one more model (its input: the floor recipe), rows in T4 and T5
        runs[f"{FLOOR}_{pp['floor']}"] = koike.KoikeRuns(ctx.inputs[f"{NAME}_train_summary_{FLOOR}"],
                                                         ctx.inputs[f"{NAME}_predictions_{FLOOR}"])
        models = {**models, FLOOR: [pp["floor"]]}
        tables_cfg = floor.with_floor(tables_cfg, list(FLOOR_TABLES))
        floor_notes = [floor.note(runs[f"{FLOOR}_{pp['floor']}"].summaries[0]["model"],
                                  "the same 3:1:1 parts (trained on train; dev unused, nothing to select), test "
                                  "scored at probability 0.5")]
    tables = koike.build_tables(runs, models, tables_cfg, ctx.paper, pp["bootstrap"])
    ctx.add_runs(koike.claim_runs(runs, models), {t: pp["budgets"] for t in (koike.T4, koike.T5)})
    train_s = sum(s.get("wall_s", 0) for r in runs.values() for s in r.summaries)
    notes = {k: [*v, koike.split_note(runs), koike.paper_consistency_note(ctx.paper), *floor_notes]
             for k, v in koike.NOTES.items()}
    devices = {s.get("device_name", "?") for r in runs.values() for s in r.summaries}
    prov = ctx.run_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.papers.koike.tables."
                              "build_tables; cells from `runs/koike/<model>/<input>/<digest>/seed<k>/predictions.csv`, "
                              "rule `koike_run_<model>` → auscult.papers.koike.train.run_training", NAME, devices,
                              f"training {train_s / 60:.1f} min")
    ctx.write_all(tables, notes, {"data": pp["data"], "weights": "see cell", "budget": ctx.budget}, prov, pp)


def build_figures(inputs: Mapping, params: Mapping, tables, out, plots) -> None:
    """T4 UAR by model and input; dev UAR and loss per epoch of every table variant."""
    import pandas as pd

    from auscult.reporting import figures

    if (tables / f"{NAME}_t4_uar.csv").exists():
        t4 = pd.read_csv(tables / f"{NAME}_t4_uar.csv")
        figures.model_comparison_plot(
            t4, out / f"{NAME}_t4_uar.png",
            title=f"Koike T4 test UAR by model and input ({t4['data'].iloc[0]} data, {t4['budget'].iloc[0]} budget)")
    if params["koike_variants"]:
        hist = {v: [pd.read_csv(p) for p in inputs[f"{NAME}_history_{v}"]] for v in params["koike_variants"]}
        figures.learning_curves(hist, {}, out / f"{NAME}_learning_curves.png", metrics=("val_uar", "val_loss"),
                                title="Koike: dev UAR and loss per epoch, every model x input and seed")
