# Input and parameter functions of the Koike rules (koike.smk). Functions live apart from
# rules (`snakemake --lint`); the Snakefile includes this file before koike.smk.


def kk_variant(w):
    return f"{w.model}_{w.inp}"


def kk_features(w=None):
    return cross_stage(layout.paper_features_dir(config, "koike"))


def kk_runs(model, name="model.pt"):
    """``name`` of every run of ``model``: each of its inputs, every seed."""
    return [
        f
        for inp in config["koike"]["models"][model]["inputs"]
        for f in layout.variant_run_files(config, "koike", f"{model}_{inp}", (name,))
    ]


def kk_priority(w):
    # after the other ready jobs, cross-dataset runs first, costliest first: koike.priority
    from auscult.papers import koike

    return koike.priority(config, kk_variant(w))
