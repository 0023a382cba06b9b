# Reference floor (not from any paper): a classical model (auscult.training.floor) on the
# `features.floor_stats` vectors, one job per seed through each paper's own protocol.
# AudioFuse: results/audiofuse/floor/<d>/seed<k>/{metrics.json,predictions.csv} (as
# audiofuse_evaluate writes them); Koike: runs/koike/floor/<recipe>/<d>/seed<k>/ (as
# koike_run_<model>). DVC stages `floor_audiofuse` and `floor_koike` run these rules.


rule floor_audiofuse_run:
    input:
        train_features=floor_features(AF["train_dataset"]),
        transfer_features=floor_features(AF["transfer_dataset"]),
        code=src_files(
            "training/floor",
            "papers/audiofuse/train",
            "evaluation/metrics",
            "splits",
            "features/store",
        ),
    output:
        metrics="results/audiofuse/floor/{dig}/seed{seed}/metrics.json",
        predictions="results/audiofuse/floor/{dig}/seed{seed}/predictions.csv",
    log:
        layout.log_path("results/audiofuse/floor/{dig}/seed{seed}"),
        benchmark=layout.benchmark_path("results/audiofuse/floor/{dig}/seed{seed}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        floor=lambda w: layout.floor_slice(config, "audiofuse"),
    script:
        "../scripts/floor_audiofuse.py"


rule floor_koike_run:
    input:
        features=floor_features(config["koike"]["train_dataset"]),
        code=src_files(
            "training/floor", "papers/koike/train", "evaluation/metrics", "splits", "features/store"
        ),
    output:
        split="runs/koike/floor/{recipe}/{dig}/seed{seed}/split.csv",
        predictions="runs/koike/floor/{recipe}/{dig}/seed{seed}/predictions.csv",
        summary="runs/koike/floor/{recipe}/{dig}/seed{seed}/train_summary.json",
    log:
        layout.log_path("runs/koike/floor/{recipe}/{dig}/seed{seed}"),
        benchmark=layout.benchmark_path("runs/koike/floor/{recipe}/{dig}/seed{seed}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        floor=lambda w: layout.floor_slice(config, "koike"),
    script:
        "../scripts/floor_koike.py"


rule floor_audiofuse:
    input:
        layout.floor_seed_files(config, "audiofuse", ("metrics.json", "predictions.csv")),


rule floor_koike:
    input:
        layout.floor_seed_files(config, "koike", ("train_summary.json", "predictions.csv")),
