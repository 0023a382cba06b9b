# Input functions of the reference-floor rules (floor.smk). Functions live apart from rules
# (`snakemake --lint`); the Snakefile includes this file before floor.smk.


def floor_features(ds):
    return cross_stage(layout.features_dir(config, ds, config["floor"]["features"]))
