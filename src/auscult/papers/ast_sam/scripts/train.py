"""Rule `ast_sam_train`: train one (variant, seed) of the AST+SAM paper from cached features.

Imports only torch/numpy/pandas/scikit-learn (+transformers, pytorch_optimizer) through
auscult, so it runs on a GPU machine without the audio stack. Resumes from
``<checkpoint_dir>/last.pt`` after an interruption; the checkpoint folder lives outside the
DVC-tracked run folder.
"""

from auscult import runlog
from auscult.training.jobs import run_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    run_job(smk, "ast_sam", log=log)
