"""Rule `tables`: every enabled paper's tables as .csv (long), .md and .tex, plus
reports/metrics.json and the claims (auscult.reporting.build.build_all_tables; each paper's
cells come from its module in auscult.papers and its builders in auscult.reporting)."""

from auscult import runlog
from auscult.reporting.build import build_all_tables

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk):
    build_all_tables(smk.config, smk.input, dict(smk.params.items()), smk.output)
