# The toy paper's rules (tests/toy_paper/toy): one training job per (variant, seed) that also
# scores the test records (toy.train); its floor runs through the shared rule floor_toy_run.
# DVC stage `toy_train@<variant>` (dvc.yaml beside this file) runs toy_train_<variant>.
import toy as toy_paper

TOY_DIR = toy_paper.RULES.parent


rule toy_train:
    input:
        features=lambda w: cross_stage(layout.paper_features_dir(config, "toy")),
        code=[ancient(str(TOY_DIR / f)) for f in ("model.py", "protocol.py", "train.py")],
    output:
        metrics="runs/toy/{toyvar}/{dig}/seed{seed}/metrics.json",
        predictions="runs/toy/{toyvar}/{dig}/seed{seed}/predictions.csv",
    log:
        layout.log_path("runs/toy/{toyvar}/{dig}/seed{seed}"),
        benchmark=layout.benchmark_path("runs/toy/{toyvar}/{dig}/seed{seed}"),
    wildcard_constraints:
        toyvar="|".join(toy_paper.variants(config)),
    params:
        train=lambda w: layout.train_slice(config, "toy", w.toyvar),
    script:
        "scripts/train.py"


for _v in toy_paper.variants(config):

    rule:
        name:
            f"toy_train_{_v}"
        input:
            layout.variant_run_files(config, "toy", _v, ("metrics.json", "predictions.csv")),
