# Data stages: acquire (download | AUSCULT_DATA_MIRROR | synthetic) and the manifest.
# DVC stage `data@<dataset>` runs these two rules.


rule acquire:
    output:
        directory("data/raw/{ds}/{dig}"),
    log:
        layout.log_path("data/raw/{ds}/{dig}"),
        benchmark=layout.benchmark_path("data/raw/{ds}/{dig}"),
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        dataset=lambda w: config["datasets"][w.ds],
    script:
        "../scripts/acquire.py"


rule manifest:
    input:
        unpack(manifest_input),
        code=rule_code("manifest"),
    output:
        manifest="data/manifests/{ds}/{dig}.csv",
        # records dropped under bad_audio: skip (and pinned ones absent from this copy)
        skipped="data/manifests/{ds}/{dig}.skipped.csv",
    log:
        layout.log_path("data/manifests/{ds}/{dig}.csv"),
        benchmark=layout.benchmark_path("data/manifests/{ds}/{dig}.csv"),
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        dataset=lambda w: config["datasets"][w.ds],
    script:
        "../scripts/manifest.py"


rule unused_dataset:
    # A declared dataset nothing reads (a folder dataset that is no cross_dataset target) is
    # never acquired: its DVC stages (data@, features@) write this marker instead, so their
    # outputs exist.
    output:
        "data/{kind}/{ds}/UNUSED",
    log:
        layout.log_path("data/{kind}/{ds}/unused"),
    wildcard_constraints:
        kind="raw|manifests|features",
    run:
        from auscult.atomic import write_text

        write_text(
            output[0], f"{wildcards.ds}: declared in params.yaml but used by no enabled table\n"
        )
        write_text(log[0], "unused dataset: nothing acquired\n")


for _ds in DATASETS:

    rule:
        name:
            f"data_{_ds}"
        input:
            # an unused folder dataset (no cross_dataset target) is never acquired
            [layout.manifest_path(config, _ds)]
            if layout.dataset_used(config, _ds)
            else [f"data/raw/{_ds}/UNUSED", f"data/manifests/{_ds}/UNUSED"],
