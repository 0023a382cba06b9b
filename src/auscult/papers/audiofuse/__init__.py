"""P1 AudioFuse (Siddiqui & Saha 2025): a ViT on the log-mel spectrogram fused with a 1-D CNN
on the waveform, trained on PhysioNet 2016 and scored on PhysioNet test, PASCAL zero-shot and
PASCAL with the head re-trained. One training and one evaluation job per (variant, seed):
``runs/audiofuse/<variant>/<d>/seed<k>`` and ``results/audiofuse/<variant>/<d>/seed<k>``.

Parameters: ``audiofuse`` in params.yaml; tables: ``auscult.papers.audiofuse.tables``.
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
from auscult.params import ParamsError, deep_merge, digest

NAME = "audiofuse"
RULES = Path(__file__).with_name("rules.smk")  # included by the Snakefile, as an external paper's

# What this paper brings to the shared tables ("module:attribute", imported on first use)
FEATURE_RECIPES = {"audiofuse": "auscult.papers.audiofuse.features:extract"}
MODELS = {"audiofuse": "auscult.papers.audiofuse.model:build_audiofuse"}
TRAIN = "auscult.papers.audiofuse.train:run_training"


def describe_run(summary: Mapping) -> str:
    """The training job log's one-line account of a finished run."""
    return f"best epoch {summary.get('best_epoch')}"


LABEL = "AudioFuse"  # its name in shared tables (cross-dataset rows)
PRETRAINED = False  # its published models trained from scratch (model cards)
SOUND = "heart-sound"
PADDED_RECIPES = ("audiofuse",)  # recipes that zero-pad a short recording (cross-dataset pad fraction)
PROTOCOL = "auscult.papers.audiofuse.train:protocol_splits"  # its train/validation/test carve
# the README's results snapshot: (table, protocol, heading) of the headline AUCs
HEADLINE = ("audiofuse_t1_physionet", "test, threshold from validation split", "AudioFuse T1, PhysioNet test AUC")
FLOOR = "auscult.papers.audiofuse.floor:run_floor"  # the reference floor under this paper's protocol
FLOOR_OUTPUTS = ("metrics.json", "predictions.csv")  # what its floor job writes (rule floor_audiofuse_run)
FORECAST = "auscult.papers.audiofuse.forecast"  # its jobs' shapes and workloads (auscult.forecast)
# the library modules its rules run (their code inputs; auscult.codedeps, checked against dvc.yaml)
CODE = {
    "audiofuse_train": ("papers/audiofuse/model", "training/engine", "training/binary",
                       "papers/audiofuse/train", "training/jobs", "splits", "features/store", "cards"),
    "audiofuse_evaluate": ("evaluation/metrics", "papers/audiofuse/evaluate"),
}
FLOOR_TABLES = ("t1_physionet", "t2_pascal")  # tables that get the reference-floor row
FLOOR_FILES = (("metrics", "json"), ("predictions", "csv"))
CROSS_FAMILY = True  # its T1 runs are scored by the cross-dataset table
CROSS_FLOOR = True  # and so is the floor fitted under its protocol (family ``floor``)

# model sections that only matter when the named branch is used
BRANCH_SECTIONS = {"spec": "vit", "wave": "wave_cnn"}


# ---------------------------------------------------------------- variants and parameter slices
def variants(config: Mapping) -> list[str]:
    return list(config[NAME]["variants"])


def seeds(config: Mapping, variant: str | None = None) -> list[int]:
    """The paper's ``seeds``, or the variant's own (``audiofuse.variants.<v>.seeds``, e.g.
    fewer for T3's extra rows at a CPU budget)."""
    p = config[NAME]
    if variant in p["variants"]:
        return list((p["variants"][variant] or {}).get("seeds", p["seeds"]))
    return list(p["seeds"])


def table_variants(config: Mapping) -> list[str]:
    return mentioned_rows(config[NAME])


def variant_model(paper_cfg: Mapping, variant: str) -> dict:
    """The model config of one variant: ``model`` with the variant's overrides merged.

    Sections of unused branches are dropped, so that (for example) a change to the wave
    CNN changes the ViT-only variant's digest not at all and never retrains it.
    """
    try:
        overrides = paper_cfg["variants"][variant]
    except KeyError:
        raise ParamsError(f"unknown variant {variant!r}; defined: {sorted(paper_cfg['variants'])}") from None
    # `training` and `seeds` in a variant override its schedule, not its model (train_slice, seeds)
    cfg = deep_merge(paper_cfg["model"], {k: v for k, v in (overrides or {}).items() if k not in ("training", "seeds")})
    for branch, section in BRANCH_SECTIONS.items():
        if branch not in cfg["branches"]:
            cfg.pop(section, None)
    return cfg


def model_config(config: Mapping, variant: str) -> dict:
    return variant_model(config[NAME], variant)


def train_slice(config: Mapping, variant: str) -> dict:
    """Exactly the parameters a training job of ``variant`` uses (seed excluded); a variant
    may override training settings (e.g. more epochs for the ViT)."""
    p = config[NAME]
    training = deep_merge(p["training"], (p["variants"][variant] or {}).get("training", {}))
    return {"model": model_config(config, variant), "training": training, "split": p["split"],
            "max_train_records": p["max_train_records"], **eval_cap(config)}


def eval_cap(config: Mapping) -> dict:
    """``{"max_eval_records": n}`` when the config caps the evaluation records (the rehearsal
    budget: validation, PhysioNet test and PASCAL each a stratified subsample), else ``{}``, so
    that the paper's and the CPU budget's slices and digests have no such key."""
    cap = config[NAME].get("max_eval_records")
    return {} if cap is None else {"max_eval_records": cap}


def variant_path(config: Mapping, variant: str) -> str:
    return variant


def eval_slice(config: Mapping) -> dict:
    """The evaluation parameters (PhysioNet test, PASCAL zero-shot and head re-trained)."""
    p = config[NAME]
    return {"evaluation": p["evaluation"], "head_retrain": p["head_retrain"], "split": p["split"], **eval_cap(config)}


def eval_digest(config: Mapping, variant: str) -> str:
    p = config[NAME]
    return digest({"train": layout.train_digest(config, NAME, variant),
                   "transfer": layout.features_digest(config, p["transfer_dataset"], p["features"]),
                   **eval_slice(config)})


def result_dir(config: Mapping, variant: str, seed: int) -> str:
    """Digest of training + evaluation parameters."""
    return f"results/{NAME}/{variant}/{eval_digest(config, variant)}/seed{seed}"


def datasets(config: Mapping) -> list[str]:
    p = config[NAME]
    return [p["train_dataset"], p["transfer_dataset"]]


# ---------------------------------------------------------------- reference floor, cross-dataset
def floor_protocol(config: Mapping) -> dict:
    """What the floor reads of this paper's protocol besides split and caps."""
    p = config[NAME]
    hr = p["head_retrain"]
    return {"threshold_rule": p["evaluation"]["threshold_rule"],
            "head_retrain": {k: hr[k] for k in ("test_fraction", "val_fraction", "seed")}, **eval_cap(config)}


def floor_dir(config: Mapping, d: str, seed: int) -> str:
    """``results/audiofuse/floor/<d>/seed<k>`` (metrics.json, predictions.csv, as evaluation)."""
    return f"results/{NAME}/{layout.FLOOR}/{d}/seed{seed}"


def cross_variants(config: Mapping) -> list[str]:
    return list(dict.fromkeys(config[NAME]["tables"]["t1_physionet"]))


def cross_slice(config: Mapping) -> dict:
    return {"threshold_rule": config[NAME]["evaluation"]["threshold_rule"]}


def check(config: Mapping) -> None:
    """Table rows name defined variants; no variant is called 'floor'; T3 rows have a ViT; an
    evaluation-record cap leaves every protocol's parts both classes."""
    af = config.get(NAME, {})
    if af.get("max_eval_records") is not None:
        _check_eval_cap(af["max_eval_records"], af["head_retrain"], af["split"]["seed"])
    variants_ = set(af.get("variants", {}))
    unknown_rows(config, NAME, variants_, "variant(s)")
    reserved_floor(NAME, "variants", variants_)
    for v in af.get("tables", {}).get("t3_vit_ablation", []):
        if v in variants_ and "spec" not in variant_model(af, v)["branches"]:
            raise ParamsError(f"{NAME}.tables.t3_vit_ablation: variant {v!r} has no ViT ('spec') branch")


def _check_eval_cap(cap: int, head_retrain: Mapping, seed: int) -> None:
    """Fail at configuration time, naming the key, where ``max_eval_records`` is too small for
    the protocols' own carves (a balanced stand-in of ``cap`` records through the same subsample
    and head re-training split the jobs use), not in the evaluation job after training. A
    strongly imbalanced dataset may need a larger cap than this passes."""
    import pandas as pd

    from auscult import splits
    from auscult.papers.audiofuse.train import head_retrain_splits

    n = 2 * int(cap)
    stand_in = pd.DataFrame({"record_id": [str(i) for i in range(n)], "label": [i % 2 for i in range(n)],
                             "patient_id": ""})
    try:
        head_retrain_splits(splits.subsample(stand_in, cap, seed), head_retrain, None)
    except ValueError as e:
        raise ParamsError(f"{NAME}.max_eval_records: {cap} is too few records for the protocols' splits "
                          f"(PASCAL head re-training: test_fraction {head_retrain['test_fraction']}, "
                          f"val_fraction {head_retrain['val_fraction']}; {e})") from None


# ---------------------------------------------------------------- reports
def cost_jobs(config: Mapping) -> tuple[list[dict], list[tuple[str, str, list[str]]]]:
    """(training/evaluation jobs with their benchmark files, feature caches the tables use)."""
    p, jobs = config[NAME], []
    for v in table_variants(config):
        tables = [f"{NAME}_{t}" for t, rows in p["tables"].items() if v in rows]
        for s in seeds(config, v):
            jobs.append({"stage": "train", "variant": v, "tables": set(tables),
                         "path": layout.benchmark_path(layout.run_dir(config, NAME, v, s))})
            jobs.append({"stage": "evaluate", "variant": v, "tables": set(tables),
                         "path": layout.benchmark_path(result_dir(config, v, s))})
    names = [f"{NAME}_{t}" for t in p["tables"]]
    return jobs, [(p["train_dataset"], p["features"], names),
                  (p["transfer_dataset"], p["features"], [n for n in names if "pascal" in n])]


def _seed_files(config: Mapping, name: str, folder) -> dict[str, list[str]]:
    return {f"{name.split('.')[0]}_{v}": [f"{folder(v, s)}/{name}" for s in seeds(config, v)]
            for v in table_variants(config)}


def table_files(config: Mapping) -> dict[str, list[str]]:
    """Per-variant result files over seeds, keyed ``metrics_<variant>``, ``predictions_<variant>``."""
    def res(v, s):
        return result_dir(config, v, s)

    return {**_seed_files(config, "metrics.json", res), **_seed_files(config, "predictions.csv", res)}


def figure_files(config: Mapping) -> dict[str, list[str]]:
    """Predictions (ROC curves) and histories (learning curves) of every table variant."""
    return {**_seed_files(config, "predictions.csv", lambda v, s: result_dir(config, v, s)),
            **_seed_files(config, "history.csv", lambda v, s: layout.run_dir(config, NAME, v, s))}


def floor_files(config: Mapping) -> dict[str, list[str]]:
    return {f"{n}_{layout.FLOOR}": [f"{floor_dir(config, layout.floor_digest(config, NAME), s)}/{n}.{ext}"
                                    for s in config[NAME]["seeds"]] for n, ext in FLOOR_FILES}


def table_params(config: Mapping) -> dict:
    """The exact parameter slice this paper's tables read."""
    p, tv = config[NAME], table_variants(config)
    return {
        "seeds": p["seeds"],
        "variant_seeds": {v: seeds(config, v) for v in tv},
        "tables": p["tables"],
        "variants": tv,
        "model_cfgs": {v: variant_model(p, v) for v in tv},
        "bootstrap": p["evaluation"]["bootstrap"],
        "datasets": datasets(config),
        "data": data_kind(config, datasets(config)),
        "floor": NAME in layout.floor_papers(config),
        "budgets": row_budgets(config, NAME, tv),
        **eval_cap(config),
    }


def figure_params(config: Mapping | None) -> dict:
    """Variants of its figures (ROC of T1; learning curves of every table variant); ``None``: off."""
    if config is None:
        return {"t1_variants": [], "af_variants": []}
    return {"t1_variants": config[NAME]["tables"]["t1_physionet"], "af_variants": table_variants(config)}


def build_tables(ctx, pp: Mapping) -> None:
    """T1-T3 (``auscult.papers.audiofuse.tables.build_tables``), with the floor's rows in T1, T2."""
    import pandas as pd

    from auscult.papers.audiofuse import tables as audiofuse
    from auscult.reporting import floor

    FLOOR = layout.FLOOR
    results = {v: audiofuse.SeedResults(ctx.inputs[f"metrics_{v}"], ctx.inputs[f"predictions_{v}"])
               for v in pp["variants"]}
    tables_cfg, notes = pp["tables"], {k: list(v) for k, v in audiofuse.NOTES.items()}
    if pp["floor"]:  # the reference floor: one more entry, rows in T1 and T2
        results[FLOOR] = audiofuse.SeedResults(ctx.inputs[f"metrics_{FLOOR}"], ctx.inputs[f"predictions_{FLOOR}"])
        tables_cfg = floor.with_floor(tables_cfg, list(FLOOR_TABLES))
        fnote = floor.note(results[FLOOR].metrics[0]["train"]["model"], "the same splits, validation threshold "
                           "and PASCAL protocols (head re-trained = the floor re-fitted on the PASCAL train part)")
        notes.update({t: [*notes[t], fnote] for t in (audiofuse.T1, audiofuse.T2)})
    if pp.get("max_eval_records") is not None:  # a rehearsal: the counts in the notes are the uncapped ones
        for t in notes:
            notes[t].insert(0, audiofuse.cap_note(pp["max_eval_records"]))
    transfer = pd.read_csv(ctx.inputs[f"manifest_{pp['datasets'][1]}"], dtype={"record_id": str})
    several_sets = "subset" in transfer and transfer["subset"].nunique() > 1
    subsets = audiofuse.pascal_subsets(transfer) if several_sets else None
    if several_sets:
        notes[audiofuse.T2].append(audiofuse.subset_note(transfer))
    tables = audiofuse.build_tables(results, tables_cfg, pp["model_cfgs"], ctx.paper, pp["bootstrap"], subsets)
    ctx.add_runs(audiofuse.claim_runs(results, tables_cfg, subsets),
                 {t: pp["budgets"] for t in (audiofuse.T1, audiofuse.T2, audiofuse.T3)})
    train_s = sum(m["train"].get("wall_s", 0) for r in results.values() for m in r.metrics)
    eval_s = sum(m.get("wall_s", 0) for r in results.values() for m in r.metrics)
    devices = {m["train"].get("device_name", "?") for r in results.values() for m in r.metrics}
    prov = ctx.run_provenance(pp, "rule `tables` (workflow/rules/report.smk) → auscult.papers.audiofuse.tables."
                              "build_tables; cells from `results/audiofuse/<variant>/<digest>/seed<k>/metrics.json`, "
                              "rule `audiofuse_evaluate` → auscult.papers.audiofuse.evaluate.run_evaluation", NAME, devices,
                              f"training {train_s / 60:.1f} min, evaluation {eval_s / 60:.1f} min")
    ctx.write_all(tables, notes, {"data": pp["data"], "weights": "scratch", "budget": ctx.budget}, prov, pp,
                  title_fields=audiofuse.title_fields(results))


def build_figures(inputs: Mapping, params: Mapping, tables, out, plots) -> None:
    """Learning curves of every table variant (and their mean histories for ``dvc plots``);
    T1 ROC curves, the T3 depth x heads plot and the T2 domain-shift plot."""
    import pandas as pd

    from auscult.atomic import write_csv
    from auscult.reporting import figures
    from auscult.reporting.tables import paper_values

    labels = {k: v["label"] for k, v in paper_values()[f"{NAME}_t1_physionet"]["rows"].items()}
    if params["af_variants"]:
        hist = {v: [pd.read_csv(p) for p in inputs[f"history_{v}"]] for v in params["af_variants"]}
        for v, frames in hist.items():
            write_csv(plots / f"history_{v}.csv", figures.mean_history(frames))
        figures.learning_curves(hist, labels, out / f"{NAME}_learning_curves.png",
                                title="AudioFuse: validation AUC and loss per epoch, every variant and seed")
    if not params["t1_variants"]:
        return
    t1 = pd.read_csv(tables / f"{NAME}_t1_physionet.csv")
    t2 = pd.read_csv(tables / f"{NAME}_t2_pascal.csv")
    t3 = pd.read_csv(tables / f"{NAME}_t3_vit_ablation.csv")
    tag = f"{t1['data'].iloc[0]} data, {t1['budget'].iloc[0]} budget"
    preds = {v: [pd.read_csv(p, dtype={"record_id": str}) for p in inputs[f"predictions_{v}"]]
             for v in params["t1_variants"]}
    for v, frames in preds.items():
        write_csv(plots / f"roc_{v}.csv", figures.mean_roc(frames))
    figures.roc_curves(preds, labels, out / f"{NAME}_t1_roc.png", title=f"AudioFuse T1 ROC, PhysioNet test ({tag})")
    figures.ablation_plot(t3, out / f"{NAME}_t3_ablation.png", title=f"AudioFuse T3 depth x heads ({tag})")
    figures.domain_shift_plot(t1, t2, out / f"{NAME}_t2_domain_shift.png", title=f"AudioFuse T2 domain shift ({tag})")
