# P1 AudioFuse (Siddiqui & Saha 2025): one training job per (variant, seed), one evaluation
# job per (variant, seed) covering PhysioNet test, PASCAL zero-shot and PASCAL head-retrained.
# DVC stages `audiofuse_train@<variant>` and `audiofuse_evaluate@<variant>` run these rules.


from auscult.papers import audiofuse as audiofuse_paper
from auscult.papers.audiofuse import workflow as af_wf

AF_RUN, AF_RESULT = af_wf.RUN, af_wf.RESULT


rule audiofuse_train:
    input:
        features=af_wf.features(config, "train"),
        code=rule_code("audiofuse_train"),
    output:
        model="runs/audiofuse/{variant}/{dig}/seed{seed}/model.pt",
        history="runs/audiofuse/{variant}/{dig}/seed{seed}/history.csv",
        summary="runs/audiofuse/{variant}/{dig}/seed{seed}/train_summary.json",
        card="runs/audiofuse/{variant}/{dig}/seed{seed}/model_card.json",
    log:
        layout.log_path(AF_RUN),
        benchmark=layout.benchmark_path(AF_RUN),
    wildcard_constraints:
        variant="|".join(audiofuse_paper.variants(config)),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu_slots=gpu_slots("audiofuse"),
    params:
        train=lambda w: layout.train_slice(config, "audiofuse", w.variant),
        checkpoint_dir=lambda w: layout.checkpoint_dir(config, "audiofuse", w.variant, w.seed),
    script:
        "scripts/train.py"


rule audiofuse_evaluate:
    input:
        unpack(af_wf.eval_input(config)),
        code=rule_code("audiofuse_evaluate"),
    output:
        metrics="results/audiofuse/{variant}/{dig}/seed{seed}/metrics.json",
        predictions="results/audiofuse/{variant}/{dig}/seed{seed}/predictions.csv",
    log:
        layout.log_path(AF_RESULT),
        benchmark=layout.benchmark_path(AF_RESULT),
    wildcard_constraints:
        variant="|".join(audiofuse_paper.variants(config)),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu_slots=gpu_slots("audiofuse"),
    params:
        model=lambda w: layout.variant_model_config(config, "audiofuse", w.variant),
        evaluation=lambda w: audiofuse_paper.eval_slice(config),
        train=lambda w: layout.train_slice(config, "audiofuse", w.variant),
    script:
        "scripts/evaluate.py"


for _v in audiofuse_paper.variants(config):

    rule:
        name:
            f"audiofuse_train_{_v}"
        input:
            layout.variant_run_files(config, "audiofuse", _v, ("model.pt",)),

    rule:
        name:
            f"audiofuse_evaluate_{_v}"
        input:
            # Both outputs: a stray metrics.json without its predictions must not read as done.
            layout.variant_result_files(
                config, "audiofuse", _v, ("metrics.json", "predictions.csv")
            ),
