# Cross-dataset table (issue 12): every trained binary heart-sound model, unchanged, scored on
# every cross_dataset.targets entry (auscult.evaluation.cross_dataset); one job per model family
# (audiofuse, koike, floor). The table itself is written by rule `tables`.
# DVC stage `cross_dataset` runs these rules.

CROSS_FAMILIES = layout.cross_models(config)
CROSS_DATASETS = layout.cross_datasets(config)


def cross_input(w):
    fam = w.family
    recipe = layout.cross_recipe(config, fam)
    out = {
        f"features_{ds}": cross_stage(layout.features_dir(config, ds, recipe))
        for ds in CROSS_DATASETS
    }
    out.update(
        {f"manifest_{ds}": cross_stage(layout.manifest_path(config, ds)) for ds in CROSS_DATASETS}
    )
    runs = layout.cross_runs(config, fam)
    if fam == "floor":
        out["train_features"] = cross_stage(
            layout.features_dir(config, AF["train_dataset"], recipe)
        )
        out["runs"] = [cross_stage(f"{d}/metrics.json") for _, _, d in runs]
    else:
        out["runs"] = [
            cross_stage(f"{d}/{n}") for _, _, d in runs for n in ("model.pt", "model_card.json")
        ]
    return out


rule cross_dataset_score:
    input:
        unpack(cross_input),
        code=src_files("evaluation/cross_dataset", "cli", "cards", "training/floor"),
    output:
        scores="results/cross_dataset/{family}/{dig}/scores.csv",
    log:
        layout.log_path("results/cross_dataset/{family}/{dig}", depth=layout.CROSS_DEPTH),
    benchmark:
        layout.benchmark_path("results/cross_dataset/{family}/{dig}", depth=layout.CROSS_DEPTH)
    wildcard_constraints:
        family="audiofuse|koike|floor",
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        runs=lambda w: layout.cross_runs(config, w.family),
        cross=lambda w: layout.cross_slice(config, w.family),
        targets=lambda w: layout.cross_targets(config),
        recipe_params=lambda w: config["features"][layout.cross_recipe(config, w.family)],
    script:
        "../scripts/cross_dataset.py"


def cross_scores_files():
    return {f"cross_{f}": cross_stage(layout.cross_scores(config, f)) for f in CROSS_FAMILIES}


rule cross_dataset:
    input:
        list(cross_scores_files().values()),
