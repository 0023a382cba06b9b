"""Rule `audiofuse_evaluate`: PhysioNet test, PASCAL zero-shot and PASCAL head-retrained."""

from pathlib import Path

from auscult import runlog
from auscult.papers.audiofuse.evaluate import run_evaluation

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    metrics = run_evaluation(
        model_file=smk.input.model,
        train_summary=smk.input.summary,
        model_cfg=smk.params.model,
        eval_params=smk.params.evaluation,
        train_features=smk.input.train_features,
        transfer_features=smk.input.transfer_features,
        seed=int(smk.wildcards.seed),
        out_metrics=smk.output.metrics,
        out_predictions=smk.output.predictions,
        workdir=Path(smk.output.metrics).parent,
        threads=smk.threads,
    )
    log.info("evaluated %s seed %s: physionet AUC %.4f", smk.wildcards.variant, smk.wildcards.seed,
             metrics["physionet_test"]["auc"])
