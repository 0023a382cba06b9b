# Input functions of the data rules (data.smk). Functions live apart from rules (`snakemake
# --lint`); the Snakefile includes this file before data.smk.


def manifest_input(w):
    # A function, so cross_stage sees the concrete path (a wildcard pattern never exists).
    return {"raw": cross_stage(f"data/raw/{w.ds}/{w.dig}")}
