"""Rule `report_html`: the report notebook executed (papermill) and converted to HTML
without its code cells (nbconvert), in this one process (auscult.reporting.notebook)."""

from auscult import runlog
from auscult.reporting.notebook import render_report

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk):
    render_report(smk.input.notebook, smk.output.executed, smk.output.html,
                  {"tables_dir": smk.input.tables, "figures_dir": smk.input.figures, "claims_csv": smk.input.claims})
