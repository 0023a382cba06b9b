# Data stages: acquire (download | AUSCULT_DATA_MIRROR | synthetic) and the manifest.
# DVC stage `data@<dataset>` runs these two rules.


rule acquire:
    output:
        directory("data/raw/{ds}/{dig}"),
    params:
        dataset=lambda w: config["datasets"][w.ds],
    log:
        "data/raw/{ds}/logs/{dig}.log",
    benchmark:
        "data/raw/{ds}/benchmarks/{dig}.tsv"
    resources:
        mem_mb=2000,
        runtime=120,
    script:
        "../scripts/acquire.py"


rule manifest:
    input:
        raw=cross_stage("data/raw/{ds}/{dig}"),
        code=src_files("datasets/physionet2016", "datasets/pascal", "audio"),
    output:
        "data/manifests/{ds}/{dig}.csv",
    log:
        "data/manifests/{ds}/logs/{dig}.log",
    benchmark:
        "data/manifests/{ds}/benchmarks/{dig}.tsv"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/manifest.py"


for _ds in DATASETS:

    rule:
        name:
            f"dataset_{_ds}"
        input:
            layout.manifest_path(config, _ds),
