# Reports: every table (reports/tables), figures, and the papermill-executed report notebook.
# DVC stage `report` runs these rules.


# What the report rules read and their parameters come from auscult.reporting.build (the input
# functions, with cross_stage applied: report_functions.smk).
from auscult.reporting import build as report_build


rule tables:
    input:
        unpack(tables_input),
        code=rule_code("tables"),
        # each paper's published numbers and claims, in its own folder
        paper_values=registry.paper_files("paper_values.yaml"),
        claims=registry.paper_files("claims.yaml"),
    output:
        tables=report(
            directory("reports/tables"),
            patterns=["{name}.csv"],
            caption="../report/tables.rst",
            category="Tables",
        ),
        metrics="reports/metrics.json",
        claims_md="reports/claims.md",
        claims_csv=report("reports/claims.csv", caption="../report/claims.rst", category="Claims"),
    log:
        "reports/logs/tables.log",
    params:
        **report_build.table_params(config),
    script:
        "../scripts/tables.py"


rule figures:
    input:
        unpack(figures_input),
        code=rule_code("figures"),
    output:
        figures=report(
            directory("reports/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
        plots=directory("reports/plots"),
    log:
        "reports/logs/figures.log",
    params:
        **report_build.figure_params(config),
        input_paths=report_build.input_paths(report_build.figure_inputs(config)),
    script:
        "../scripts/figures.py"


rule report_html:
    input:
        notebook="workflow/notebooks/report.ipynb",
        tables="reports/tables",
        claims="reports/claims.csv",
        figures="reports/figures",
        code=rule_code("report_html"),
    output:
        executed="reports/report.ipynb",
        html=report("reports/report.html", caption="../report/report_html.rst", category="Report"),
    log:
        "reports/logs/report_html.log",
    script:
        "../scripts/report_html.py"


# DVC stage `report` runs this target: every table, the figures and the executed report.
rule report:
    input:
        "reports/tables",
        "reports/figures",
        "reports/report.html",
