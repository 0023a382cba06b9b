# Feature caches: resample, segment and featurise every recording of a dataset into a few
# shard files. DVC stage `features@<dataset>` runs these rules.


rule features:
    input:
        unpack(features_input),
        code=rule_code("features"),
    output:
        directory("data/features/{ds}/{recipe}-{dig}"),
    log:
        layout.log_path("data/features/{ds}/{recipe}-{dig}"),
        benchmark=layout.benchmark_path("data/features/{ds}/{recipe}-{dig}"),
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


for _ds in DATASETS:

    rule:
        name:
            f"features_{_ds}"
        input:
            layout.dataset_features_dirs(config, _ds) or [f"data/features/{_ds}/UNUSED"],
