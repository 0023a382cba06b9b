# Feature caches: resample, segment and featurise every recording of a dataset into a few
# shard files. DVC stage `features@<dataset>` runs these rules.


def features_input(w):
    ddig = layout.dataset_digest(config, w.ds)
    return {
        "manifest": cross_stage(f"data/manifests/{w.ds}/{ddig}.csv"),
        "raw": cross_stage(f"data/raw/{w.ds}/{ddig}"),
    }


rule features:
    input:
        unpack(features_input),
        code=src_files(
            "features/build",
            "features/store",
            "features/audiofuse",
            "features/koike",
            "features/icbhi",
            "features/floor",
            "audio",
        ),
    output:
        directory("data/features/{ds}/{recipe}-{dig}"),
    log:
        layout.log_path("data/features/{ds}/{recipe}-{dig}"),
    benchmark:
        layout.benchmark_path("data/features/{ds}/{recipe}-{dig}")
    threads: 8
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        recipe_params=lambda w: config["features"][w.recipe],
        # The manifest input is ancient() (cross-stage), so its content is a parameter: a
        # manifest rebuilt under the same digest (e.g. `-R manifest` after a code change)
        # re-runs this job through Snakemake's params trigger instead of leaving it stale.
        manifest_sha256=lambda w: file_sha256(
            f"data/manifests/{w.ds}/{layout.dataset_digest(config, w.ds)}.csv"
        ),
    script:
        "../scripts/features.py"


def features_needed(ds):
    """Feature caches of dataset `ds` that the enabled papers (and their reference floors) use."""
    return [
        layout.features_dir(config, ds, recipe) for recipe in layout.dataset_recipes(config, ds)
    ]


for _ds in DATASETS:

    rule:
        name:
            f"features_{_ds}"
        input:
            features_needed(_ds) or [f"data/features/{_ds}/UNUSED"],
