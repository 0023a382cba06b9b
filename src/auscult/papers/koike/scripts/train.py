"""Rule `koike_run_<model>`: train one model of Koike et al. on each of its inputs for one
seed, from cached features (one run per input: select on dev, score dev and test).
Imports only torch/numpy/pandas/scikit-learn."""

from auscult import runlog
from auscult.training.jobs import run_jobs

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk) as log:
    run_jobs(smk, "koike", log=log)
