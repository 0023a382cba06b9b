"""Rule `audiofuse_train`: train one (variant, seed) from cached features.

Imports only torch/numpy/pandas/scikit-learn (through auscult), so it runs on a GPU
machine without the audio stack. Resumes from its .checkpoints/ folder after an interruption.
"""

from pathlib import Path

from auscult import runlog
from auscult.training.audiofuse import run_training

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
summary = run_training(
    features_dir=smk.input.features,
    train_params=smk.params.train,
    out_dir=Path(smk.output.model).parent,
    seed=int(smk.wildcards.seed),
    threads=smk.threads,
    checkpoint_dir=smk.params.checkpoint_dir,
    variant=smk.wildcards.variant,
)
log.info("trained %s seed %s: best epoch %s", smk.wildcards.variant, smk.wildcards.seed,
         summary.get("best_epoch"))
