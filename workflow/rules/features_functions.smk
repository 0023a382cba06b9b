# Input functions of the feature rules (features.smk). Functions live apart from rules
# (`snakemake --lint`); the Snakefile includes this file before features.smk.


def features_input(w):
    ddig = layout.dataset_digest(config, w.ds)
    return {
        "manifest": cross_stage(f"data/manifests/{w.ds}/{ddig}.csv"),
        "raw": cross_stage(f"data/raw/{w.ds}/{ddig}"),
    }
