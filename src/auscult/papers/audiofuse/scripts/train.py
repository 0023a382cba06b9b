"""Rule `audiofuse_train`: train one (variant, seed) from cached features.

Imports only torch/numpy/pandas/scikit-learn (through auscult), so it runs on a GPU
machine without the audio stack. Resumes from its .checkpoints/ folder after an interruption.
"""

from auscult import runlog
from auscult.training.jobs import run_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    run_job(smk, "audiofuse", log=log)
