"""Rule `koike_train`: train one (model, input, seed) of Koike et al. from cached features,
select on dev, score dev and test. Imports only torch/numpy/pandas/scikit-learn."""

from pathlib import Path

from auscult import runlog
from auscult.training.koike import run_training

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
summary = run_training(
    features_dir=smk.input.features,
    train_params=smk.params.train,
    out_dir=Path(smk.output.model).parent,
    seed=int(smk.wildcards.seed),
    threads=smk.threads,
    checkpoint_dir=smk.params.checkpoint_dir,
    variant=f"{smk.wildcards.model}_{smk.wildcards.inp}",
)
log.info("trained %s/%s seed %s: best epoch %s, weights %s", smk.wildcards.model, smk.wildcards.inp,
         smk.wildcards.seed, summary.get("best_epoch"), summary["weights"])
