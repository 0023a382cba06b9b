# P2 Koike et al. 2020: one training job per (model, input, seed) on the stratified 3:1:1
# split of PhysioNet 2016. A job selects its checkpoint on the dev part and then scores dev
# and test (predictions.csv); the tables compute UAR/spec/sens/F1 from those scores.
# DVC stage `koike_train@<model>` runs these rules for both inputs of one model.

KK = config["koike"]
KK_VARIANTS = layout.variants(config, "koike")
KK_RUN = "runs/koike/{model}/{inp}/{dig}/seed{seed}"  # layout.run_dir


rule koike_train:
    input:
        features=kk_features,
        code=src_files(
            "models/cnn14",
            "models/imagenet",
            "models/weights",
            "training/engine",
            "training/loop",
            "training/koike",
            "training/jobs",
            "splits",
            "features/store",
        ),
    output:
        model="runs/koike/{model}/{inp}/{dig}/seed{seed}/model.pt",
        history="runs/koike/{model}/{inp}/{dig}/seed{seed}/history.csv",
        split="runs/koike/{model}/{inp}/{dig}/seed{seed}/split.csv",
        predictions="runs/koike/{model}/{inp}/{dig}/seed{seed}/predictions.csv",
        summary="runs/koike/{model}/{inp}/{dig}/seed{seed}/train_summary.json",
        card="runs/koike/{model}/{inp}/{dig}/seed{seed}/model_card.json",
    log:
        layout.log_path(KK_RUN),
    benchmark:
        layout.benchmark_path(KK_RUN)
    # After the other ready jobs: features and AudioFuse/AST+SAM training start chains of
    # evaluation jobs, and longer chains first keeps both cores busy to the end on a small
    # machine (kk_priority).
    priority: kk_priority
    threads: 2
    resources:
        mem_mb=16000,
        runtime=480,
        gpu_slots=gpu_slots("koike"),
    params:
        train=lambda w: layout.train_slice(config, "koike", kk_variant(w)),
        checkpoint_dir=lambda w: layout.checkpoint_dir(config, "koike", kk_variant(w), w.seed),
    script:
        "../scripts/koike_train.py"


for _m in KK["models"]:

    rule:
        name:
            f"koike_train_{_m}"
        input:
            kk_runs(_m, "predictions.csv"),
