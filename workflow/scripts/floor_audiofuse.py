"""Rule `floor_audiofuse_run`: the reference floor under every AudioFuse protocol, one seed.
Imports only numpy/pandas/scikit-learn (auscult.training.floor): runs from cached features."""

from auscult import runlog
from auscult.training.floor import run_audiofuse

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
metrics = run_audiofuse(
    train_features=smk.input.train_features,
    transfer_features=smk.input.transfer_features,
    floor_params=smk.params.floor,
    seed=int(smk.wildcards.seed),
    out_metrics=smk.output.metrics,
    out_predictions=smk.output.predictions,
    threads=smk.threads,
)
log.info("floor seed %s: physionet test AUC %.4f", smk.wildcards.seed, metrics["physionet_test"]["auc"])
runlog.end_job(smk)
