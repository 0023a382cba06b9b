"""Rule `figures`: ROC curves, the ablation plot and the domain-shift comparison."""

from pathlib import Path

import pandas as pd

from auscult import runlog
from auscult.atomic import write_csv
from auscult.reporting import figures
from auscult.reporting.tables import paper_values

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
out = Path(smk.output.figures)
tables = Path(smk.input.tables)
out.mkdir(parents=True, exist_ok=True)
if (tables / "koike_t4_uar.csv").exists():
    t4 = pd.read_csv(tables / "koike_t4_uar.csv")
    figures.model_comparison_plot(
        t4, out / "koike_t4_uar.png",
        title=f"Koike T4 test UAR by model and input ({t4['data'].iloc[0]} data, {t4['budget'].iloc[0]} budget)")
if (tables / "cross_dataset.csv").exists():
    xt = pd.read_csv(tables / "cross_dataset.csv")
    if len(xt):
        figures.cross_dataset_heatmap(
            xt, out / "cross_dataset.png",
            title=f"Zero-shot AUC per model and target ({xt['data'].iloc[0]} data, {xt['budget'].iloc[0]} budget)")
if smk.params.koike_variants:
    hist = {v: [pd.read_csv(p) for p in smk.input[f"koike_history_{v}"]] for v in smk.params.koike_variants}
    figures.learning_curves(hist, {}, out / "koike_learning_curves.png", metrics=("val_uar", "val_loss"),
                            title="Koike: dev UAR and loss per epoch, every model x input and seed")
plots = Path(smk.output.plots)  # plain CSVs for `dvc plots show / diff` (dvc.yaml plots:)
plots.mkdir(parents=True, exist_ok=True)
if smk.params.af_variants:
    rows = paper_values()["audiofuse_t1_physionet"]["rows"]
    hist = {v: [pd.read_csv(p) for p in smk.input[f"history_{v}"]] for v in smk.params.af_variants}
    for v, frames in hist.items():
        write_csv(plots / f"history_{v}.csv", figures.mean_history(frames))
    figures.learning_curves(hist, {k: v["label"] for k, v in rows.items()}, out / "audiofuse_learning_curves.png",
                            title="AudioFuse: validation AUC and loss per epoch, every variant and seed")
if smk.params.t6_variants:
    from auscult.reporting import icbhi

    t6 = pd.read_csv(tables / "ast_sam_t6_ablation.csv")
    seed_metrics = {v: icbhi.load_seed_metrics(smk.input[f"ast_sam_metrics_{v}"]) for v in smk.params.t6_variants}
    labels = {v: paper_values()[icbhi.T6]["rows"].get(v, {}).get("label", v) for v in smk.params.t6_variants}
    figures.confusion_panels(icbhi.confusion_matrices(seed_metrics), out / "ast_sam_t6_confusion.png", labels=labels,
                             title=f"AST+SAM T6 test confusion, clean protocol ({t6['data'].iloc[0]} data, "
                                   f"{t6['budget'].iloc[0]} budget)")
if not smk.params.t1_variants:
    log.info("figures written to %s", out)
    raise SystemExit(0)
t1 = pd.read_csv(tables / "audiofuse_t1_physionet.csv")
t2 = pd.read_csv(tables / "audiofuse_t2_pascal.csv")
t3 = pd.read_csv(tables / "audiofuse_t3_vit_ablation.csv")
tag = f"{t1['data'].iloc[0]} data, {t1['budget'].iloc[0]} budget"
labels = {k: v["label"] for k, v in paper_values()["audiofuse_t1_physionet"]["rows"].items()}
preds = {v: [pd.read_csv(p, dtype={"record_id": str}) for p in smk.input[f"predictions_{v}"]]
         for v in smk.params.t1_variants}
for v, frames in preds.items():
    write_csv(plots / f"roc_{v}.csv", figures.mean_roc(frames))
figures.roc_curves(preds, labels, out / "audiofuse_t1_roc.png", title=f"AudioFuse T1 ROC, PhysioNet test ({tag})")
figures.ablation_plot(t3, out / "audiofuse_t3_ablation.png", title=f"AudioFuse T3 depth x heads ({tag})")
figures.domain_shift_plot(t1, t2, out / "audiofuse_t2_domain_shift.png",
                          title=f"AudioFuse T2 domain shift ({tag})")
log.info("figures written to %s", out)
