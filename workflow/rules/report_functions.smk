# Input functions of the report rules (report.smk). Functions live apart from rules
# (`snakemake --lint`); the Snakefile includes this file before report.smk.


# What the report rules read comes from each enabled paper's module (auscult.papers), through
# auscult.reporting.build (unit-tested without Snakemake); here only cross_stage is applied.
from auscult.reporting import build as report_build


def cross_stages(files):
    """cross_stage() of every path of a {name: path or [paths]} mapping."""
    return {
        k: [cross_stage(p) for p in v] if isinstance(v, list) else cross_stage(v)
        for k, v in files.items()
    }


def tables_input(w):
    return {**cross_stages(report_build.table_inputs(config)), "base_params": "params.yaml"}


def figures_input(w):
    # the tables folder first, then each paper's figure inputs (a function, because snakefmt
    # would move a `**mapping` input ahead of the named one and change the input order)
    return {"tables": "reports/tables", **cross_stages(report_build.figure_inputs(config))}
