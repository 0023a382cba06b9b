"""Rule `koike_train`: train one (model, input, seed) of Koike et al. from cached features,
select on dev, score dev and test. Imports only torch/numpy/pandas/scikit-learn."""

from auscult import runlog
from auscult.training.jobs import run_job

smk = snakemake  # noqa: F821 (injected by Snakemake)
run_job(smk, "koike", variant=f"{smk.wildcards.model}_{smk.wildcards.inp}")
runlog.end_job()
