# Cross-dataset table (issue 12): every trained binary heart-sound model, unchanged, scored on
# every cross_dataset.targets entry (auscult.evaluation.cross_dataset); one job per model family
# (each paper whose module says CROSS_FAMILY, and the floor). The table itself is written by rule `tables`.
# DVC stage `cross_dataset` runs these rules.


rule cross_dataset_score:
    input:
        unpack(cross_input),
        code=rule_code("cross_dataset_score"),
    output:
        scores="results/cross_dataset/{family}/{dig}/scores.csv",
    log:
        layout.log_path("results/cross_dataset/{family}/{dig}", depth=layout.CROSS_DEPTH),
        benchmark=layout.benchmark_path(
            "results/cross_dataset/{family}/{dig}", depth=layout.CROSS_DEPTH
        ),
    wildcard_constraints:
        family="|".join(layout.cross_families()),
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


rule cross_dataset:
    input:
        list(cross_scores_files().values()),
