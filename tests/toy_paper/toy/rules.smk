# The toy paper's one job per (variant, seed): fit and score (tests/toy_paper/toy.py).
import toy as toy_paper


rule toy_train:
    input:
        features=lambda w: cross_stage(layout.paper_features_dir(config, "toy")),
        code=[ancient(str(toy_paper.RULES.with_name("toy.py")))],
    output:
        metrics="runs/toy/{toyvar}/{dig}/seed{seed}/metrics.json",
    log:
        "runs/toy/{toyvar}/logs/{dig}-seed{seed}.log",
    benchmark:
        "runs/toy/{toyvar}/benchmarks/{dig}-seed{seed}.tsv"
    wildcard_constraints:
        toyvar="|".join(config["toy"]["variants"]),
    params:
        train=lambda w: layout.train_slice(config, "toy", w.toyvar),
    run:
        toy_paper.train(input.features, params.train, int(wildcards.seed), output.metrics)
