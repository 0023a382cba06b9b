# Input functions of the cross-dataset rules (cross_dataset.smk). Functions live apart from
# rules (`snakemake --lint`); the Snakefile includes this file before cross_dataset.smk.

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
            layout.features_dir(
                config, layout.floor_datasets(config, layout.cross_floor_paper())[0], recipe
            )
        )
        out["runs"] = [cross_stage(f"{d}/metrics.json") for _, _, d in runs]
    else:
        out["runs"] = [
            cross_stage(f"{d}/{n}") for _, _, d in runs for n in ("model.pt", "model_card.json")
        ]
    return out


def cross_scores_files():
    return {f"cross_{f}": cross_stage(layout.cross_scores(config, f)) for f in CROSS_FAMILIES}
