"""Rule `figures`: ROC curves, learning curves, the ablation and domain-shift plots, the
confusion panels and the cross-dataset heat map (auscult.reporting.build.build_all_figures;
each paper's figures come from its module in auscult.papers)."""

from auscult import runlog
from auscult.reporting.build import build_all_figures

smk = snakemake  # noqa: F821 (injected by Snakemake)
with runlog.job(smk):
    build_all_figures(smk.input, dict(smk.params.items()), smk.output, smk.config)
