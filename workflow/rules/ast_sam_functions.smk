# Input and parameter functions of the AST + SAM rules (ast_sam.smk). Functions live apart from
# rules (`snakemake --lint`); the Snakefile includes this file before ast_sam.smk.


def as_features(w=None):
    return cross_stage(layout.paper_features_dir(config, "ast_sam"))


def as_train_slice(variant):
    return layout.train_slice(config, "ast_sam", variant)


def as_eval_input(w):
    run = layout.run_dir(config, "ast_sam", w.variant, w.seed)
    return {
        "model": cross_stage(f"{run}/model.pt"),
        "paper_model": cross_stage(f"{run}/model_paper.pt"),
        "summary": cross_stage(f"{run}/train_summary.json"),
        "features": as_features(),
    }
