"""Rule `audiofuse_train`: train one (variant, seed) from cached features.

Imports only torch/numpy/pandas/scikit-learn (through auscult), so it runs on a GPU
machine without the audio stack. Resumes from its .checkpoints/ folder after an interruption.
"""

from auscult import runlog
from auscult.training.jobs import run_job

run_job(snakemake, "audiofuse")  # noqa: F821 (injected by Snakemake)
runlog.end_job(snakemake)  # noqa: F821
