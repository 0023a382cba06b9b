# Reports: every table (reports/tables), figures, and the papermill-executed report notebook.
# DVC stage `report` runs these rules.


def af_seed_files(name):
    """Per-variant lists of one AudioFuse result file over seeds, keyed e.g. metrics_<variant>."""
    if "audiofuse" not in PAPERS:
        return {}
    return {
        f"{name}_{v}": [cross_stage(f"{layout.result_dir(config, v, s)}/{name}.{'json' if name == 'metrics' else 'csv'}")
                        for s in layout.seeds(config, "audiofuse", v)]
        for v in AF_TABLE_VARIANTS
    }


def af_history_files():
    """Per-variant history.csv of every AudioFuse table run, keyed history_<variant>."""
    if "audiofuse" not in PAPERS:
        return {}
    return {
        f"history_{v}": [cross_stage(f"{layout.run_dir(config, 'audiofuse', v, s)}/history.csv")
                         for s in layout.seeds(config, "audiofuse", v)]
        for v in AF_TABLE_VARIANTS
    }


def kk_seed_files(name):
    """Per-variant lists of one Koike run file over seeds, keyed e.g. koike_summary_<variant>."""
    if "koike" not in PAPERS:
        return {}
    return {
        f"koike_{name.split('.')[0]}_{v}": [cross_stage(f"{layout.run_dir(config, 'koike', v, s)}/{name}")
                                            for s in KK["seeds"]]
        for v in layout.table_variants(config, "koike")
    }


def as_seed_files(name):
    """Per-variant lists of AST+SAM result files over seeds, keyed e.g. ast_sam_metrics_<variant>."""
    if "ast_sam" not in PAPERS:
        return {}
    return {
        f"ast_sam_{name.split('.')[0]}_{v}": [cross_stage(f"{layout.result_dir(config, v, s, 'ast_sam')}/{name}")
                                              for s in AS["seeds"]]
        for v in layout.table_variants(config, "ast_sam")
    }


def floor_seed_files():
    """The reference floor's per-seed files, keyed like the variants' (variant ``floor``)."""
    out = {}
    if "audiofuse" in FLOOR_PAPERS:
        out.update({f"{n}_floor": [cross_stage(f"{layout.floor_dir(config, 'audiofuse', s)}/{n}.{ext}")
                                   for s in AF["seeds"]] for n, ext in (("metrics", "json"), ("predictions", "csv"))})
    if "koike" in FLOOR_PAPERS:
        out.update({f"koike_{n}_floor": [cross_stage(f"{layout.floor_dir(config, 'koike', s)}/{n}.{ext}")
                                         for s in KK["seeds"]]
                    for n, ext in (("train_summary", "json"), ("predictions", "csv"))})
    return out


def paper_datasets():
    out = []
    if "audiofuse" in PAPERS:
        out += [AF["train_dataset"], AF["transfer_dataset"]]
    if "koike" in PAPERS:
        out.append(KK["train_dataset"])
    if "ast_sam" in PAPERS:
        out.append(AS["train_dataset"])
    return list(dict.fromkeys(out))


def tables_input(w):
    data = paper_datasets()
    return {
        **af_seed_files("metrics"),
        **af_seed_files("predictions"),
        **kk_seed_files("train_summary.json"),
        **kk_seed_files("predictions.csv"),
        **as_seed_files("metrics.json"),
        **floor_seed_files(),
        **cross_scores_files(),
        **{f"raw_{ds}": cross_stage(layout.raw_dir(config, ds)) for ds in data},
        **{f"manifest_{ds}": cross_stage(layout.manifest_path(config, ds)) for ds in data},
        "base_params": "params.yaml",
    }


def data_kind(datasets):
    return "synthetic" if any(config["datasets"][d]["source"] == "synthetic" for d in datasets) else "real"


def paper_table_params():
    """The exact parameter slice each enabled paper's tables read."""
    out = {}
    if "audiofuse" in PAPERS:
        out["audiofuse"] = {
            "seeds": AF["seeds"],
            "variant_seeds": {v: layout.seeds(config, "audiofuse", v) for v in AF_TABLE_VARIANTS},
            "tables": AF["tables"],
            "variants": AF_TABLE_VARIANTS,
            "model_cfgs": {v: model_config(AF, v) for v in AF_TABLE_VARIANTS},
            "bootstrap": AF["evaluation"]["bootstrap"],
            "datasets": [AF["train_dataset"], AF["transfer_dataset"]],
            "data": data_kind([AF["train_dataset"], AF["transfer_dataset"]]),
            "floor": "audiofuse" in FLOOR_PAPERS,
        }
    if "koike" in PAPERS:
        out["koike"] = {
            "seeds": KK["seeds"],
            "tables": KK["tables"],
            "variants": layout.table_variants(config, "koike"),
            "models": {m: spec["inputs"] for m, spec in KK["models"].items()},
            "bootstrap": KK["bootstrap"],
            "datasets": [KK["train_dataset"]],
            "data": data_kind([KK["train_dataset"]]),
            "floor": config["floor"]["features"] if "koike" in FLOOR_PAPERS else None,
        }
    if "ast_sam" in PAPERS:
        out["ast_sam"] = {
            "seeds": AS["seeds"],
            "tables": AS["tables"],
            "variants": layout.table_variants(config, "ast_sam"),
            "datasets": [AS["train_dataset"]],
            "data_source": config["datasets"][AS["train_dataset"]]["source"],
            "max_length": AS["model"]["max_length"],
        }
    return out


def cross_table_params():
    """What the cross-dataset table reads (empty when no model family is enabled)."""
    if not CROSS_FAMILIES:
        return {}
    used = CROSS_DATASETS + [AF["train_dataset"]]
    return {
        "families": CROSS_FAMILIES,
        "targets": config["cross_dataset"]["targets"],
        "bootstrap": config["cross_dataset"]["bootstrap"],
        "clip_seconds": {f: config["features"][layout.cross_recipe(config, f)].get("clip_seconds")
                         for f in CROSS_FAMILIES},
        "data": data_kind(used),
    }


rule tables:
    input:
        unpack(tables_input),
        code=src_files("reporting/tables", "reporting/audiofuse", "reporting/koike", "reporting/icbhi",
                       "reporting/compute_cost", "reporting/provenance", "reporting/claims", "reporting/floor",
                       "reporting/cross_dataset"),
        paper_values="src/auscult/reporting/paper_values.yaml",
        claims="src/auscult/reporting/claims.yaml",
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
    params:
        budget=config["budget"],
        papers=paper_table_params(),
        cross=cross_table_params(),
    log:
        "reports/logs/tables.log",
    script:
        "../scripts/tables.py"


rule figures:
    input:
        tables="reports/tables",
        **af_seed_files("predictions"),
        **af_history_files(),
        **kk_seed_files("history.csv"),
        **as_seed_files("metrics.json"),
        code=src_files("reporting/figures"),
    output:
        figures=report(
            directory("reports/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
        plots=directory("reports/plots"),
    params:
        t1_variants=AF["tables"]["t1_physionet"] if "audiofuse" in PAPERS else [],
        t6_variants=layout.table_variants(config, "ast_sam") if "ast_sam" in PAPERS else [],
        af_variants=AF_TABLE_VARIANTS if "audiofuse" in PAPERS else [],
        koike_variants=layout.table_variants(config, "koike") if "koike" in PAPERS else [],
    log:
        "reports/logs/figures.log",
    script:
        "../scripts/figures.py"


rule report_html:
    input:
        notebook="workflow/notebooks/report.ipynb",
        tables="reports/tables",
        claims="reports/claims.csv",
        figures="reports/figures",
    output:
        executed="reports/report.ipynb",
        html=report("reports/report.html", caption="../report/report_html.rst", category="Report"),
    log:
        "reports/logs/report_html.log",
    shell:
        # the interpreter running Snakemake (its venv), also when that venv is not activated
        f"({sys.executable} -m papermill --log-level ERROR {{input.notebook}} {{output.executed}}"
        " -p tables_dir {input.tables} -p figures_dir {input.figures} -p claims_csv {input.claims}"
        f" && {sys.executable} -m jupyter nbconvert --to html --no-input {{output.executed}} --output-dir reports"
        " --output report) > {log} 2>&1"
