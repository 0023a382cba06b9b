"""Rule `ast_sam_evaluate`: ICBHI test metrics of one (variant, seed), clean and paper protocols."""

from pathlib import Path

from auscult import runlog
from auscult.papers.ast_sam.evaluate import run_evaluation

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    metrics = run_evaluation(
        features_dir=smk.input.features,
        run_dir=Path(smk.input.model).parent,
        model_cfg=smk.params.train["model"],
        split_cfg=smk.params.train["split"],
        out_metrics=smk.output.metrics,
        out_predictions=smk.output.predictions,
        threads=smk.threads,
    )
    log.info("evaluated %s seed %s: clean Score_exact %.4f Score_any %.4f", smk.wildcards.variant,
             smk.wildcards.seed, metrics["clean"]["score_exact"], metrics["clean"]["score_any"])
