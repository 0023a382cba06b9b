"""Rule `acquire`: download | mirror | synthesise one dataset into data/raw/<ds>/<digest>."""

from auscult import runlog
from auscult.datasets.source import acquire_or_synthesise

log = runlog.setup(runlog.job_log(snakemake))  # noqa: F821 (snakemake is injected)
out = acquire_or_synthesise(snakemake.wildcards.ds, snakemake.output[0], snakemake.params.dataset)  # noqa: F821
log.info("acquired %s into %s", snakemake.wildcards.ds, out)  # noqa: F821
