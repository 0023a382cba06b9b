"""Rule `floor_koike_run`: the reference floor on the Koike 3:1:1 split, one seed (dev and
test scores; the tables score test at probability 0.5). Imports only numpy/pandas/scikit-learn."""

from pathlib import Path

from auscult import runlog
from auscult.training.floor import run_koike

smk = snakemake  # noqa: F821 (injected by Snakemake)
log = runlog.setup(runlog.job_log(smk))
summary = run_koike(
    features_dir=smk.input.features,
    floor_params=smk.params.floor,
    seed=int(smk.wildcards.seed),
    out_dir=Path(smk.output.summary).parent,
    threads=smk.threads,
)
log.info("floor seed %s: %d train / %d dev / %d test", smk.wildcards.seed, summary["n_train"], summary["n_dev"],
         summary["n_test"])
runlog.end_job(smk)
