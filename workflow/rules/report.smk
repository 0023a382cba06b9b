# Reports: every table (reports/tables), figures, and the papermill-executed report notebook.
# DVC stage `report` runs these rules.


def af_seed_files(name):
    """Per-variant lists of one result file over seeds, keyed e.g. metrics_<variant>."""
    return {
        f"{name}_{v}": [cross_stage(f"{layout.result_dir(config, v, s)}/{name}.{'json' if name == 'metrics' else 'csv'}")
                        for s in AF["seeds"]]
        for v in AF_TABLE_VARIANTS
    }


def tables_input(w):
    af_data = [AF["train_dataset"], AF["transfer_dataset"]]
    return {
        **af_seed_files("metrics"),
        **af_seed_files("predictions"),
        **{f"raw_{ds}": cross_stage(layout.raw_dir(config, ds)) for ds in af_data},
        **{f"manifest_{ds}": cross_stage(layout.manifest_path(config, ds)) for ds in af_data},
        "base_params": "params.yaml",
    }


def data_kind(datasets):
    return "synthetic" if any(config["datasets"][d]["source"] == "synthetic" for d in datasets) else "real"


rule tables:
    input:
        unpack(tables_input),
        code=src_files("reporting/tables", "reporting/audiofuse", "reporting/provenance"),
        paper_values="src/auscult/reporting/paper_values.yaml",
    output:
        tables=directory("reports/tables"),
        metrics="reports/metrics.json",
    params:
        budget=config["budget"],
        seeds=AF["seeds"],
        tables=AF["tables"],
        variants=AF_TABLE_VARIANTS,
        model_cfgs={v: model_config(AF, v) for v in AF_TABLE_VARIANTS},
        bootstrap=AF["evaluation"]["bootstrap"],
        datasets=[AF["train_dataset"], AF["transfer_dataset"]],
        data=data_kind([AF["train_dataset"], AF["transfer_dataset"]]),
    log:
        "reports/logs/tables.log",
    script:
        "../scripts/tables.py"


rule figures:
    input:
        tables="reports/tables",
        **af_seed_files("predictions"),
        code=src_files("reporting/figures"),
    output:
        directory("reports/figures"),
    params:
        t1_variants=AF["tables"]["t1_physionet"],
    log:
        "reports/logs/figures.log",
    script:
        "../scripts/figures.py"


rule report_html:
    input:
        notebook="workflow/notebooks/report.ipynb",
        tables="reports/tables",
        figures="reports/figures",
    output:
        executed="reports/report.ipynb",
        html="reports/report.html",
    log:
        "reports/logs/report_html.log",
    shell:
        "(papermill --log-level ERROR {input.notebook} {output.executed}"
        " -p tables_dir {input.tables} -p figures_dir {input.figures}"
        " && jupyter nbconvert --to html --no-input {output.executed} --output-dir reports"
        " --output report) > {log} 2>&1"
