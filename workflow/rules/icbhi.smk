# P3 AST + SAM on ICBHI 2017 (Işık et al., arXiv 2512.22564). DRAFT, to be wired by the
# maintainer: one training job per (variant, seed), one evaluation job per (variant, seed).
# Expects in the including Snakefile: `config`, `layout`, `cross_stage`, `src_files`,
# `GPUS_PER_TRAINING_JOB`, and these helpers (to add to auscult.layout, mirroring the
# AudioFuse ones): layout.icbhi_run_dir(config, variant, seed),
# layout.icbhi_result_dir(config, variant, seed), layout.icbhi_checkpoint_dir(config, variant, seed)
# (outside the DVC-tracked run folder), and
# auscult.training.icbhi.variant_train_slice(config["ast_sam"], variant).

AS = config["ast_sam"]
AS_VARIANTS = list(AS["variants"])


def as_features():
    return cross_stage(layout.features_dir(config, "icbhi2017", AS["features"]))


def as_train_slice(variant):
    from auscult.training.icbhi import variant_train_slice

    return variant_train_slice(AS, variant)


rule icbhi_train:
    input:
        features=as_features(),
        code=src_files("models/ast", "training/icbhi", "training/loop", "splits", "features/store",
                       "evaluation/icbhi"),
    output:
        model="runs/ast_sam/{variant}/{dig}/seed{seed}/model.pt",
        paper_model="runs/ast_sam/{variant}/{dig}/seed{seed}/model_paper.pt",
        history="runs/ast_sam/{variant}/{dig}/seed{seed}/history.csv",
        summary="runs/ast_sam/{variant}/{dig}/seed{seed}/train_summary.json",
    params:
        train=lambda w: as_train_slice(w.variant),
        checkpoint_dir=lambda w: layout.icbhi_checkpoint_dir(config, w.variant, w.seed),
    threads: 2
    log:
        "runs/ast_sam/{variant}/logs/{dig}-seed{seed}.log",
    benchmark:
        "runs/ast_sam/{variant}/benchmarks/{dig}-seed{seed}.tsv"
    resources:
        mem_mb=16000,
        runtime=480,
        gpu=GPUS_PER_TRAINING_JOB,
    script:
        "../scripts/icbhi_train.py"


def as_eval_input(w):
    run = layout.icbhi_run_dir(config, w.variant, w.seed)
    return {
        "model": cross_stage(f"{run}/model.pt"),
        "paper_model": cross_stage(f"{run}/model_paper.pt"),
        "summary": cross_stage(f"{run}/train_summary.json"),
        "features": as_features(),
    }


rule icbhi_evaluate:
    input:
        unpack(as_eval_input),
        code=src_files("evaluation/icbhi", "training/icbhi", "models/ast"),
    output:
        metrics="results/ast_sam/{variant}/{dig}/seed{seed}/metrics.json",
        predictions="results/ast_sam/{variant}/{dig}/seed{seed}/predictions.csv",
    params:
        train=lambda w: as_train_slice(w.variant),
    threads: 2
    log:
        "results/ast_sam/{variant}/logs/{dig}-seed{seed}.log",
    benchmark:
        "results/ast_sam/{variant}/benchmarks/{dig}-seed{seed}.tsv"
    resources:
        mem_mb=8000,
        runtime=60,
        gpu=GPUS_PER_TRAINING_JOB,
    script:
        "../scripts/icbhi_evaluate.py"


def as_runs(variant):
    return [f"{layout.icbhi_run_dir(config, variant, s)}/model.pt" for s in AS["seeds"]]


def as_results(variant):
    return [f"{layout.icbhi_result_dir(config, variant, s)}/{name}" for s in AS["seeds"]
            for name in ("metrics.json", "predictions.csv")]


for _v in AS_VARIANTS:

    rule:
        name:
            f"icbhi_train_{_v}"
        input:
            as_runs(_v),

    rule:
        name:
            f"icbhi_eval_{_v}"
        input:
            as_results(_v),
