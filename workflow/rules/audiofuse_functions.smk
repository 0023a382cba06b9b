# Input functions of the AudioFuse rules (audiofuse.smk). Functions live apart from rules
# (`snakemake --lint`); the Snakefile includes this file before audiofuse.smk.


def af_features(role):
    ds = AF["train_dataset"] if role == "train" else AF["transfer_dataset"]
    return cross_stage(layout.features_dir(config, ds, AF["features"]))


def af_eval_input(w):
    run = layout.run_dir(config, "audiofuse", w.variant, w.seed)
    return {
        "model": cross_stage(f"{run}/model.pt"),
        "summary": cross_stage(f"{run}/train_summary.json"),
        "train_features": af_features("train"),
        "transfer_features": af_features("transfer"),
    }
