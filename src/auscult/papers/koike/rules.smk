# P2 Koike et al. 2020 on the stratified 3:1:1 split of PhysioNet 2016: one run per (model,
# input, seed) in runs/koike/<model>/<input>/<d>/seed<k> (layout.run_dir, each input's own
# digest). A run selects its checkpoint on the dev part and then scores dev and test
# (predictions.csv); the tables compute UAR/spec/sens/F1 from those scores.
# One job per (model, seed), rule `koike_run_<model>`, trains the model's runs on each of
# its inputs in turn (one process: its start-up is paid once, not per input).
# DVC stage `koike_train@<model>` runs rule `koike_train_<model>`: every run of one model.

from auscult.papers import koike as koike_paper
from auscult.papers.koike import workflow as kk_wf

for _m in config["koike"]["models"]:

    rule:
        name:
            f"koike_run_{_m}"
        input:
            features=kk_wf.features(config),
            code=rule_code(f"koike_run_{_m}"),
        output:
            kk_wf.job_outputs(config, _m),
        log:
            layout.log_path(koike_paper.job_artifact(config, _m, "{seed}")),
            benchmark=layout.benchmark_path(koike_paper.job_artifact(config, _m, "{seed}")),
        # After the other ready jobs: features and AudioFuse/AST+SAM training start chains of
        # evaluation jobs, and longer chains first keeps both cores busy to the end on a small
        # machine (koike.priority).
        priority: koike_paper.priority(config, _m)
        threads: 2
        resources:
            mem_mb=16000,
            runtime=480 * len(koike_paper.model_variants(config, _m)),
            gpu_slots=gpu_slots("koike", koike_paper.model_variants(config, _m)),
        params:
            runs=kk_wf.job_runs(config, _m),
        script:
            "scripts/train.py"

    rule:
        name:
            f"koike_train_{_m}"
        input:
            kk_wf.runs(config, _m, "predictions.csv"),
