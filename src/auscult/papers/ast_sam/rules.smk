# P3 AST + SAM on ICBHI 2017 (Işık et al., arXiv 2512.22564): one training job per
# (variant, seed) on breathing-cycle features, one evaluation job per (variant, seed) scoring
# the official test split under both selection protocols (clean and the paper's).
# DVC stages `ast_sam_train@<variant>` and `ast_sam_evaluate@<variant>` run these rules.


from auscult.papers import ast_sam as ast_sam_paper
from auscult.papers.ast_sam import workflow as as_wf

AS_RUN, AS_RESULT = as_wf.RUN, as_wf.RESULT


rule ast_sam_train:
    input:
        features=as_wf.features(config),
        code=rule_code("ast_sam_train"),
    output:
        model="runs/ast_sam/{variant}/{dig}/seed{seed}/model.pt",
        paper_model="runs/ast_sam/{variant}/{dig}/seed{seed}/model_paper.pt",
        history="runs/ast_sam/{variant}/{dig}/seed{seed}/history.csv",
        summary="runs/ast_sam/{variant}/{dig}/seed{seed}/train_summary.json",
        card="runs/ast_sam/{variant}/{dig}/seed{seed}/model_card.json",
    log:
        layout.log_path(AS_RUN),
        benchmark=layout.benchmark_path(AS_RUN),
    wildcard_constraints:
        variant="|".join(ast_sam_paper.variants(config)),
    threads: 2
    resources:
        mem_mb=16000,
        runtime=480,
        gpu_slots=gpu_slots("ast_sam"),
    params:
        train=lambda w: layout.train_slice(config, "ast_sam", w.variant),
        checkpoint_dir=lambda w: layout.checkpoint_dir(config, "ast_sam", w.variant, w.seed),
    script:
        "scripts/train.py"


rule ast_sam_evaluate:
    input:
        unpack(as_wf.eval_input(config)),
        code=rule_code("ast_sam_evaluate"),
    output:
        metrics="results/ast_sam/{variant}/{dig}/seed{seed}/metrics.json",
        predictions="results/ast_sam/{variant}/{dig}/seed{seed}/predictions.csv",
    log:
        layout.log_path(AS_RESULT),
        benchmark=layout.benchmark_path(AS_RESULT),
    wildcard_constraints:
        variant="|".join(ast_sam_paper.variants(config)),
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
        gpu_slots=gpu_slots("ast_sam"),
    params:
        train=lambda w: layout.train_slice(config, "ast_sam", w.variant),
    script:
        "scripts/evaluate.py"


for _v in ast_sam_paper.variants(config):

    rule:
        name:
            f"ast_sam_train_{_v}"
        input:
            layout.variant_run_files(config, "ast_sam", _v, ("model.pt",)),

    rule:
        name:
            f"ast_sam_evaluate_{_v}"
        input:
            layout.variant_result_files(config, "ast_sam", _v, ("metrics.json", "predictions.csv")),
