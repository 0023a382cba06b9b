"""Rule `icbhi_train`: train one (variant, seed) of the AST+SAM paper from cached features.

Imports only torch/numpy/pandas/scikit-learn (+transformers, pytorch_optimizer) through
auscult, so it runs on a GPU machine without the audio stack. Resumes from
``<checkpoint_dir>/last.pt`` after an interruption; the checkpoint folder lives outside the
DVC-tracked run folder.
"""

from pathlib import Path

from auscult import runlog
from auscult.training.icbhi import run_training

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
summary = run_training(
    features_dir=smk.input.features,
    train_params=smk.params.train,
    out_dir=Path(smk.output.model).parent,
    checkpoint_dir=smk.params.checkpoint_dir,
    seed=int(smk.wildcards.seed),
    threads=smk.threads,
    variant=smk.wildcards.variant,
)
log.info("trained %s seed %s: clean epoch %s, paper-protocol epoch %s, weights %s", smk.wildcards.variant,
         smk.wildcards.seed, summary["selection"]["clean"]["epoch"],
         (summary["selection"]["paper"] or {}).get("epoch"), (summary["weights"] or {}).get("status"))
